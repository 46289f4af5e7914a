"""The registration API in gateway mode (issue #5): `/api/v1/models/...` on this server while the
registry is a real `mlflow server` upstream.

The module starts its own pair — a real `mlflow server` of the running venv and the binary in gateway
mode in front of it, with `--default-permission NO_PERMISSIONS` and a webhook receiver — so it runs in
the normal pass with whatever client the venv holds (MLflow 3: runs hold logged models; 2.x: the model
is found in the run's own artifacts).

- one call registers model, version, tags and alias **on the upstream** (checked there directly),
  the creator owns the model (local permission row), the event is written and delivered, and the
  stock client loads `models:/name@alias` through the gateway;
- Idempotency-Key replays and conflicts as in native mode, and the upstream holds one version;
- a missing run, another developer's run (404) or model (403), a reader key (403), and malformed
  registrations and transitions (400) leave the upstream unchanged;
- list, get and transition read and write the upstream, and hide other developers' models;
- `mlflow.register_model` through the gateway (forwarded `model-versions/create`) gets its
  registration event too.

What a failure part-way leaves behind (the undo of model and version) is covered by the unit tests
of the upstream catalog (tests/unit/gateway/upstream_catalog_test.cpp), where the upstream can be
made to fail at each step.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import requests

from itest_helpers import API_PREFIX, ServerProcess, register_secret, unique
from registration_helpers import (DETAILED_FIELDS, FULL_BODY_VERSION_TAGS, WebhookReceiver, World,
                                  assert_registration, build_world, created, error_body, events_of, full_body,
                                  list_all_models, mlflow_client, ok, predictions, register,
                                  run_source, tracking_as, v1, wait_for)

pytestmark = pytest.mark.hokusai_only  # the Hokusai binary in gateway mode

DEV_USER = "gwreg-dev"
OTHER_USER = "gwreg-other"
READER_USER = "gwreg-reader"
TIMEOUT = 30


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    srv = ServerProcess("mlflow", tmp_path_factory.mktemp("gwreg-upstream"), upstream=False)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def hook():
    receiver = WebhookReceiver().up()
    yield receiver
    receiver.down()


@pytest.fixture(scope="module")
def gw(upstream, hook, tmp_path_factory):
    srv = ServerProcess("gateway", tmp_path_factory.mktemp("gwreg"),
                        ["--default-permission", "NO_PERMISSIONS", "--webhook-url", hook.url,
                         "--webhook-backoff-ms", "50"],
                        upstream=upstream)
    secret = register_secret("whsec-" + uuid.uuid4().hex + uuid.uuid4().hex, "webhook secret")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOKUSAI_WEBHOOK_SECRET", secret)
        srv.start()
    yield srv
    srv.stop_gracefully_or_fail()


@pytest.fixture(scope="module")
def world(gw, models) -> World:
    return build_world(gw, models, DEV_USER, OTHER_USER, READER_USER)


def direct(upstream, method: str, path: str, **kw) -> requests.Response:
    """The upstream itself, around the gateway (the real server has no keys)."""
    kw.setdefault("timeout", TIMEOUT)
    return requests.request(method, upstream.url + API_PREFIX + path, **kw)


def upstream_versions(upstream, name: str) -> list[dict]:
    resp = direct(upstream, "GET", "/model-versions/search", params={"filter": f"name = '{name}'"})
    assert resp.status_code == 200, resp.text
    return resp.json().get("model_versions", [])


def upstream_model_names(upstream) -> set[str]:
    resp = direct(upstream, "GET", "/registered-models/search", params={"max_results": 1000})
    assert resp.status_code == 200, resp.text
    return {m["name"] for m in resp.json().get("registered_models", [])}


def tags_of(entity: dict) -> dict:
    return {t["key"]: t["value"] for t in entity.get("tags", [])}


def test_one_call_registers_on_the_upstream(world, upstream, hook, models):
    w, gw = world, world.srv
    name = unique("gw-iris")
    body = created(register(gw, w.dev_key, full_body(w, name)))
    assert_registration(body, name=name, version="1", model_type="classifier", label="v1.0.0",
                        metrics={"accuracy": 0.97, "f1": 0.5}, run_id=w.run.run_id,
                        source=run_source(w.run))

    # The upstream has the model (with its type tag), the version with every tag, and the alias.
    model = ok(direct(upstream, "GET", "/registered-models/get", params={"name": name}))["registered_model"]
    assert tags_of(model).get("hokusai.model_type") == "classifier", model
    [version] = upstream_versions(upstream, name)
    assert version["version"] == "1" and version["run_id"] == w.run.run_id, version
    assert version["source"] == run_source(w.run), version
    assert tags_of(version) == FULL_BODY_VERSION_TAGS, version
    aliased = ok(direct(upstream, "GET", "/registered-models/alias", params={"name": name, "alias": "champion"}))
    assert aliased["model_version"]["version"] == "1", aliased

    # The creator owns it here; the stock client loads it by alias through the gateway.
    perm = gw.api(w.dev_key).get("/registered-models/permissions/get", {"name": name, "username": DEV_USER})
    assert perm.status_code == 200, perm.text
    assert perm.json()["registered_model_permission"]["permission"] == "MANAGE", perm.text
    np.testing.assert_array_equal(predictions(gw, w.dev_key, f"models:/{name}@champion", models.X),
                                  models.expected_a)

    # Its event is recorded and delivered.
    [event] = events_of(gw, name)
    assert (event["model_name"], event["version"], event["type"]) == (name, "1", "model_version.created")
    wait_for(lambda: hook.delivered_for_model(name), 30, f"delivery of the event for {name}")

    # A second registration is version 2 and takes the alias.
    second = created(register(gw, w.dev_key, full_body(w, name, mlflow_run_id=w.run_b.run_id)))
    assert second["version"] == "2", second
    aliased = ok(direct(upstream, "GET", "/registered-models/alias", params={"name": name, "alias": "champion"}))
    assert aliased["model_version"]["version"] == "2", aliased
    np.testing.assert_array_equal(predictions(gw, w.dev_key, f"models:/{name}@champion", models.X),
                                  models.expected_b)


def test_a_model_in_the_runs_own_artifacts_resolves_through_the_upstream(world, upstream):
    w, gw = world, world.srv
    name = unique("gw-legacy")
    body = created(register(gw, w.dev_key, full_body(w, name, artifact_path="legacy", alias=None)))
    assert body["source"] == f"runs:/{w.run.run_id}/legacy", body
    [version] = upstream_versions(upstream, name)
    assert version["source"] == f"runs:/{w.run.run_id}/legacy", version


def test_idempotency_key_replays_and_conflicts(world, upstream):
    w, gw = world, world.srv
    name = unique("gw-idem")
    key = unique("idem")
    first = register(gw, w.dev_key, full_body(w, name), idempotency_key=key)
    again = register(gw, w.dev_key, full_body(w, name), idempotency_key=key)
    assert created(again) == created(first)
    assert again.headers.get("Idempotent-Replayed") == "true", again.headers
    assert len(upstream_versions(upstream, name)) == 1
    error_body(register(gw, w.dev_key, full_body(w, name, version="v2"), idempotency_key=key),
               409, "RESOURCE_CONFLICT")
    assert len(upstream_versions(upstream, name)) == 1


def test_refused_registrations_leave_the_upstream_unchanged(world, upstream):
    w, gw = world, world.srv
    owned = unique("gw-owned")
    created(register(gw, w.dev_key, full_body(w, owned, alias=None)))
    names_before = upstream_model_names(upstream)
    versions_before = upstream_versions(upstream, owned)

    missing = full_body(w, unique("gw-missing"), mlflow_run_id="0" * 32)
    error_body(register(gw, w.dev_key, missing), 404, "RESOURCE_DOES_NOT_EXIST")
    no_model = full_body(w, unique("gw-bare"), mlflow_run_id=w.bare_run)
    error_body(register(gw, w.dev_key, no_model), 404, "RESOURCE_DOES_NOT_EXIST")
    # Another developer: the first one's run reads as missing, the first one's model is 403.
    foreign_run = full_body(w, unique("gw-foreign"))
    error_body(register(gw, w.other_key, foreign_run), 404, "RESOURCE_DOES_NOT_EXIST")
    error_body(register(gw, w.other_key, full_body(w, owned)), 403, "PERMISSION_DENIED")
    # A reader key writes nothing at all.
    error_body(register(gw, w.reader_key, full_body(w, unique("gw-reader"))), 403, "PERMISSION_DENIED")

    assert upstream_model_names(upstream) == names_before
    assert upstream_versions(upstream, owned) == versions_before


@pytest.mark.parametrize("case", ["not-json", "array", "no-model-type", "bad-alias", "both-sources",
                                  "unknown-field", "huge-description"])
def test_malformed_registrations_are_400_and_reach_nothing_upstream(world, upstream, case):
    w, gw = world, world.srv
    name = unique("gw-bad")
    data = None
    body = full_body(w, name)
    if case == "not-json":
        data = "{not json"
    elif case == "array":
        data = "[]"
    elif case == "no-model-type":
        del body["model_type"]
    elif case == "bad-alias":
        body["alias"] = "v1"  # reserved by MLflow
    elif case == "both-sources":
        body["model_uri"] = f"runs:/{w.run.run_id}/model"
    elif case == "unknown-field":
        body["surprise"] = 1
    elif case == "huge-description":
        body["description"] = "x" * 200_000
    names_before = upstream_model_names(upstream)
    resp = register(gw, w.dev_key, None if data is not None else body, data=data)
    error_body(resp, 400, ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"))
    assert upstream_model_names(upstream) == names_before
    assert events_of(gw, name) == []


def test_a_bad_transition_is_400_and_changes_nothing_upstream(world, upstream):
    w, gw = world, world.srv
    name = unique("gw-badstage")
    created(register(gw, w.dev_key, full_body(w, name, alias=None)))
    before = upstream_versions(upstream, name)
    for stage in ("", "no spaces", "latest"):
        error_body(v1(gw, "POST", f"/models/{name}/1/transition", w.dev_key, json_body={"stage": stage}),
                   400, "INVALID_PARAMETER_VALUE")
    assert upstream_versions(upstream, name) == before


def test_list_get_and_transition_use_the_upstream(world, upstream, models):
    w, gw = world, world.srv
    name = unique("gw-list")
    model_type = unique("type").replace("-", "_")
    created(register(gw, w.dev_key, full_body(w, name, model_type=model_type, alias=None)))
    created(register(gw, w.dev_key, full_body(w, name, model_type=model_type, alias=None,
                                              mlflow_run_id=w.run_b.run_id)))

    listed = list_all_models(gw, w.dev_key, model_type=model_type)
    assert [(m["model_name"], m["version"]) for m in listed] == [(name, "2"), (name, "1")], listed
    paged = list_all_models(gw, w.dev_key, page_size=1, model_type=model_type)
    assert [m["version"] for m in paged] == ["2", "1"], paged
    # The other developer sees none of it.
    assert list_all_models(gw, w.other_key, model_type=model_type) == []
    error_body(v1(gw, "GET", f"/models/{name}/1", w.other_key), 403, "PERMISSION_DENIED")

    got = ok(v1(gw, "GET", f"/models/{name}/1", w.dev_key))
    assert set(got) == DETAILED_FIELDS and got["model_type"] == model_type, got
    moved = ok(v1(gw, "POST", f"/models/{name}/1/transition", w.dev_key, json_body={"stage": "Production"}))
    assert moved["aliases"] == ["production"] and moved["stage"] == "Production", moved
    [v1_up] = [v for v in upstream_versions(upstream, name) if v["version"] == "1"]
    assert tags_of(v1_up).get("lifecycle_stage") == "Production", v1_up
    np.testing.assert_array_equal(predictions(gw, w.dev_key, f"models:/{name}@production", models.X),
                                  models.expected_a)
    error_body(v1(gw, "GET", f"/models/{name}/9", w.dev_key), 404, "RESOURCE_DOES_NOT_EXIST")


def test_stock_client_registration_through_the_gateway_gets_its_event(world, hook):
    import mlflow

    w, gw = world, world.srv
    name = unique("gw-stock")
    with tracking_as(gw, w.dev_key):
        mv = mlflow.register_model(f"runs:/{w.run.run_id}/model", name)
        assert mv.version == "1"
        assert mlflow_client(gw).get_model_version(name, "1").run_id == w.run.run_id
    [event] = events_of(gw, name)
    assert (event["version"], event["payload"]["user_id"]) == ("1", DEV_USER), event
    wait_for(lambda: hook.delivered_for_model(name), 30, f"delivery of the event for {name}")
