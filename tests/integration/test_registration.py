"""The registration API (spec §3): `POST /api/v1/models/register` and `/baseline`, the reads
`GET /api/v1/models[/{name}/{version}]` and `POST /api/v1/models/{name}/{version}/transition`.

A developer key trains and logs a scikit-learn model with the stock client, registers it in one call,
and the stock client then sees the version, its tags and alias, and loads it by alias. Every invalid
request is 400 naming the field and writes nothing (the store is read from its SQLite file, read-only);
repeats with an Idempotency-Key return the first answer; a run or URI the caller cannot read is 404
exactly like a missing one, and leaves no model, version, tag, alias, event or idempotency record; a
reader key and a foreign model are 403. Concurrent registrations get consecutive versions.

Raw HTTP with `requests` and the stock mlflow client only (the SDK has its own suite).
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest

from itest_helpers import ServerProcess, unique
from registration_helpers import (DETAILED_FIELDS, FULL_BODY_VERSION_TAGS, REGISTRATION_FIELDS,
                                  LoggedRun, World, assert_nothing_for_model, assert_registration,
                                  build_world, created,
                                  error_body, events_of, full_body, list_all_models,
                                  log_run_with_model, mlflow_client, ok, parse_rfc3339,
                                  predictions, register, run_source, snapshot_diff,
                                  store_rows_for_model, store_snapshot, tracking_as, v1)

pytestmark = pytest.mark.hokusai_only

DEV_USER = "reg-dev"
OTHER_USER = "reg-other"
READER_USER = "reg-reader"


@pytest.fixture(scope="module")
def world(server, models) -> World:
    return build_world(server, models, DEV_USER, OTHER_USER, READER_USER)


# --------------------------------------------------------------------------------------------------
# The journey: train, log, register in one call, use with the stock client
# --------------------------------------------------------------------------------------------------


def test_register_in_one_call_and_use_with_the_stock_client(world, models):
    w, srv = world, world.srv
    name = unique("iris")
    resp = register(srv, w.dev_key, full_body(w, name))
    body = created(resp)
    assert resp.headers.get("Idempotent-Replayed") is None, resp.headers
    assert_registration(body, name=name, version="1", model_type="classifier", label="v1.0.0",
                        metrics={"accuracy": 0.97, "f1": 0.5}, run_id=w.run.run_id,
                        source=run_source(w.run))

    with tracking_as(srv, w.dev_key):
        client = mlflow_client(srv)
        mv = client.get_model_version(name, "1")
        assert mv.run_id == w.run.run_id
        assert mv.source == run_source(w.run)
        assert mv.description == "iris classifier"
        assert mv.tags == FULL_BODY_VERSION_TAGS, mv.tags
        assert list(mv.aliases) == ["champion"], mv.aliases
        rm = client.get_registered_model(name)
        assert rm.tags.get("hokusai.model_type") == "classifier", rm.tags
        assert rm.aliases == {"champion": "1"}, rm.aliases
        assert client.get_model_version_by_alias(name, "champion").version == "1"
        # The creator owns the model.
        perm = srv.api(w.dev_key).get("/registered-models/permissions/get",
                                      {"name": name, "username": DEV_USER})
        assert perm.status_code == 200 and perm.json()["registered_model_permission"]["permission"] == "MANAGE", perm.text

    np.testing.assert_array_equal(predictions(srv, w.dev_key, f"models:/{name}@champion", models.X),
                                  models.expected_a)

    # One registration event for the version, written with it.
    events = events_of(srv, name)
    assert [(e["model_name"], e["version"], e["type"]) for e in events] == [(name, "1", "model_version.created")]
    assert events[0]["payload"]["model_name"] == name and events[0]["payload"]["version"] == "1"


def test_a_second_registration_is_version_2_and_moves_the_alias(world, models):
    w, srv = world, world.srv
    name = unique("iris")
    created(register(srv, w.dev_key, full_body(w, name)))
    second = created(register(srv, w.dev_key, full_body(
        w, name, mlflow_run_id=w.run_b.run_id, version="v2.0.0", metrics={"accuracy": 0.5})))
    assert_registration(second, name=name, version="2", model_type="classifier", label="v2.0.0",
                        metrics={"accuracy": 0.5}, run_id=w.run_b.run_id, source=run_source(w.run_b))
    with tracking_as(srv, w.dev_key):
        client = mlflow_client(srv)
        assert client.get_model_version_by_alias(name, "champion").version == "2"
        assert list(client.get_model_version(name, "1").aliases) == []
    np.testing.assert_array_equal(predictions(srv, w.dev_key, f"models:/{name}@champion", models.X),
                                  models.expected_b)
    np.testing.assert_array_equal(predictions(srv, w.dev_key, f"models:/{name}/1", models.X),
                                  models.expected_a)
    assert sorted(e["version"] for e in events_of(srv, name)) == ["1", "2"]


def test_minimal_registration_has_null_label_and_empty_metrics(world):
    w, srv = world, world.srv
    name = unique("minimal")
    body = created(register(srv, w.dev_key, {"model_name": name, "model_type": "regressor",
                                             "mlflow_run_id": w.run.run_id}))
    assert_registration(body, name=name, version="1", model_type="regressor", label=None, metrics={},
                        run_id=w.run.run_id, source=run_source(w.run))
    assert ok(v1(srv, "GET", f"/models/{name}/1", w.dev_key))["aliases"] == []


def test_a_model_in_the_runs_own_artifacts_resolves_to_a_runs_uri(world, models):
    w, srv = world, world.srv
    name = unique("legacy")
    body = created(register(srv, w.dev_key, {"model_name": name, "model_type": "classifier",
                                             "mlflow_run_id": w.run.run_id, "artifact_path": "legacy"}))
    assert body["source"] == f"runs:/{w.run.run_id}/legacy", body
    assert body["mlflow_run_id"] == w.run.run_id
    np.testing.assert_array_equal(predictions(srv, w.dev_key, f"models:/{name}/1", models.X),
                                  models.expected_a)


@pytest.mark.requires_mlflow3
@pytest.mark.parametrize("form", ["runs", "logged-model", "model-version", "run-artifacts"])
def test_model_uri_forms(world, models, form):
    w, srv = world, world.srv
    name = unique(f"uri-{form}")
    if form == "runs":
        uri, source, run_id = f"runs:/{w.run.run_id}/model", f"models:/{w.run.model_id}", w.run.run_id
    elif form == "logged-model":
        uri = source = f"models:/{w.run.model_id}"
        run_id = w.run.run_id
    elif form == "model-version":
        base = unique("uri-base")
        created(register(srv, w.dev_key, {"model_name": base, "model_type": "classifier",
                                          "mlflow_run_id": w.run.run_id}))
        uri = source = f"models:/{base}/1"
        run_id = w.run.run_id
    else:
        assert w.run.artifact_uri.startswith("mlflow-artifacts:/"), w.run.artifact_uri
        uri = source = f"{w.run.artifact_uri}/legacy"
        run_id = w.run.run_id
    body = created(register(srv, w.dev_key, {"model_name": name, "model_type": "classifier",
                                             "model_uri": uri}))
    assert body["source"] == source, body
    assert body["mlflow_run_id"] == run_id, body
    np.testing.assert_array_equal(predictions(srv, w.dev_key, f"models:/{name}/1", models.X),
                                  models.expected_a)


def test_baseline_derives_its_name_from_the_model_type(world):
    w, srv = world, world.srv
    model_type = unique("t").replace("-", "_")
    name = f"hokusai_{model_type}_baseline"
    first = created(register(srv, w.dev_key, {"model_type": model_type, "mlflow_run_id": w.run.run_id,
                                              "metrics": {"auroc": 0.75}}, endpoint="baseline"))
    assert_registration(first, name=name, version="1", model_type=model_type, label=None,
                        metrics={"auroc": 0.75}, run_id=w.run.run_id, source=run_source(w.run))
    second = created(register(srv, w.dev_key, {"model_type": model_type, "version": "b2",
                                               "mlflow_run_id": w.run_b.run_id}, endpoint="baseline"))
    assert second["model_id"] == f"{name}/2" and second["version_label"] == "b2", second
    # An explicit name wins.
    explicit = unique("explicit-baseline")
    third = created(register(srv, w.dev_key, {"model_type": model_type, "model_name": explicit,
                                              "mlflow_run_id": w.run.run_id}, endpoint="baseline"))
    assert third["model_id"] == f"{explicit}/1", third
    assert [m["version"] for m in list_all_models(srv, w.dev_key, name=name)] == ["2", "1"]


def test_metric_values_and_unicode_round_trip(world):
    w, srv = world, world.srv
    name = unique("模型-ü")
    metrics = {"tiny": 1e-300, "tenth": 0.1, "negative": -5, "big": 12345678901234567890, "zero": 0,
               "third": 1 / 3}
    body = created(register(srv, w.dev_key, {
        "model_name": name, "model_type": "classifier", "mlflow_run_id": w.run.run_id,
        "version": "v1 — ü", "metrics": metrics, "metadata": {"note": "naïve ✓"},
        "description": "описание"}))
    assert body["model_name"] == name and body["version_label"] == "v1 — ü", body
    assert body["metrics"] == {k: float(v) for k, v in metrics.items()}, body["metrics"]
    got = ok(v1(srv, "GET", f"/models/{name}/1", w.dev_key))
    assert got["metrics"] == body["metrics"] and got["tags"] == {"note": "naïve ✓"}
    assert got["description"] == "описание"
    with tracking_as(srv, w.dev_key):
        tags = mlflow_client(srv).get_model_version(name, "1").tags
    for k, v in metrics.items():
        assert float(tags[f"hokusai.metric.{k}"]) == float(v), (k, tags[f"hokusai.metric.{k}"])


# --------------------------------------------------------------------------------------------------
# 400: every invalid field is named, and nothing is written
# --------------------------------------------------------------------------------------------------

LONG = "x" * 300


def _drop(field):
    def f(body, w):
        body.pop(field, None)
        return body
    return f


def _set(**fields):
    def f(body, w):
        body.update(fields)
        return body
    return f


def _with_uri(uri):
    def f(body, w):
        body.pop("mlflow_run_id")
        body["model_uri"] = uri
        return body
    return f


def _both(body, w):
    body["model_uri"] = f"runs:/{w.run.run_id}/model"
    return body


def _uri_and_path(body, w):
    body.pop("mlflow_run_id")
    body["model_uri"] = f"runs:/{w.run.run_id}/model"
    body["artifact_path"] = "model"
    return body


# (id, mutation of a valid body, words the message must contain, endpoint)
INVALID = [
    ("model_type-missing", _drop("model_type"), ["model_type"], "register"),
    ("model_type-empty", _set(model_type=""), ["model_type"], "register"),
    ("model_type-number", _set(model_type=7), ["model_type"], "register"),
    ("model_type-space", _set(model_type="random forest"), ["model_type"], "register"),
    ("model_type-slash", _set(model_type="../x"), ["model_type"], "register"),
    ("model_type-too-long", _set(model_type="t" * 65), ["model_type"], "register"),
    ("baseline-model_type-missing", _drop("model_type"), ["model_type"], "baseline"),
    ("baseline-model_type-bad", _set(model_type="a/b"), ["model_type"], "baseline"),
    ("model_name-missing", _drop("model_name"), ["model_name"], "register"),
    ("model_name-empty", _set(model_name=""), ["model_name"], "register"),
    ("model_name-number", _set(model_name=12), ["model_name"], "register"),
    ("model_name-object", _set(model_name={"a": 1}), ["model_name"], "register"),
    ("model_name-newline", _set(model_name="bad\nname"), ["model_name"], "register"),
    ("model_name-nul", _set(model_name="bad\u0000name"), ["model_name"], "register"),
    ("model_name-too-long", _set(model_name="n" * 257), ["model_name"], "register"),
    ("run-and-uri", _both, ["mlflow_run_id", "model_uri"], "register"),
    ("neither-run-nor-uri", _drop("mlflow_run_id"), ["mlflow_run_id", "model_uri"], "register"),
    ("mlflow_run_id-number", _set(mlflow_run_id=42), ["mlflow_run_id"], "register"),
    ("mlflow_run_id-dots", _set(mlflow_run_id="../../etc"), ["mlflow_run_id"], "register"),
    ("mlflow_run_id-too-long", _set(mlflow_run_id="a" * 65), ["mlflow_run_id"], "register"),
    ("artifact_path-dotdot", _set(artifact_path="../other/model"), ["artifact_path"], "register"),
    ("artifact_path-absolute", _set(artifact_path="/etc"), ["artifact_path"], "register"),
    ("artifact_path-with-uri", _uri_and_path, ["artifact_path"], "register"),
    ("model_uri-s3", _with_uri("s3://bucket/model"), ["model_uri"], "register"),
    ("model_uri-file", _with_uri("file:///etc/passwd"), ["model_uri"], "register"),
    ("model_uri-local-path", _with_uri("/etc/passwd"), ["model_uri"], "register"),
    ("model_uri-http", _with_uri("http://127.0.0.1:1/model"), ["model_uri"], "register"),
    ("model_uri-gs", _with_uri("gs://bucket/model"), ["model_uri"], "register"),
    ("model_uri-host", _with_uri("runs://evil/abc/model"), ["model_uri"], "register"),
    ("model_uri-dotdot", _with_uri("mlflow-artifacts:/0/../../../etc/passwd"), ["model_uri"], "register"),
    ("model_uri-percent", _with_uri("runs:/abc%2F..%2F/model"), ["model_uri"], "register"),
    ("model_uri-too-long", _with_uri("runs:/" + "a" * 5000), ["model_uri"], "register"),
    ("model_uri-number", _with_uri(5), ["model_uri"], "register"),
    ("version-too-long", _set(version="v" * 129), ["version"], "register"),
    ("version-number", _set(version=1.0), ["version"], "register"),
    ("version-newline", _set(version="v1\n"), ["version"], "register"),
    ("metrics-string-value", _set(metrics={"accuracy": "0.9"}), ["metrics", "accuracy"], "register"),
    ("metrics-bool-value", _set(metrics={"accuracy": True}), ["metrics", "accuracy"], "register"),
    ("metrics-null-value", _set(metrics={"accuracy": None}), ["metrics", "accuracy"], "register"),
    ("metrics-list", _set(metrics=[0.9]), ["metrics"], "register"),
    ("metrics-bad-name", _set(metrics={"acc*": 0.9}), ["metric", "acc*"], "register"),
    ("metrics-name-too-long", _set(metrics={"m" * 250: 0.9}), ["metrics"], "register"),
    ("metrics-too-many", _set(metrics={f"m{i}": i for i in range(201)}), ["metrics"], "register"),
    ("metadata-number-value", _set(metadata={"dataset": 1}), ["metadata", "dataset"], "register"),
    ("metadata-reserved", _set(metadata={"hokusai.model_type": "x"}), ["metadata", "hokusai."], "register"),
    ("metadata-list", _set(metadata=["a"]), ["metadata"], "register"),
    ("tags-reserved", _set(tags={"hokusai.anything": "x"}), ["tags", "hokusai."], "register"),
    ("tags-bad-key", _set(tags={"a*b": "x"}), ["tags"], "register"),
    ("tags-key-too-long", _set(tags={"k" * 251: "x"}), ["tags"], "register"),
    ("tags-value-too-long", _set(tags={"k": "v" * 5001}), ["tags"], "register"),
    ("tags-metadata-clash", _set(tags={"dataset": "other"}), ["dataset"], "register"),
    ("alias-latest", _set(alias="latest"), ["alias"], "register"),
    ("alias-Latest", _set(alias="LATEST"), ["alias"], "register"),
    ("alias-v1", _set(alias="v1"), ["alias"], "register"),
    ("alias-V12", _set(alias="V12"), ["alias"], "register"),
    ("alias-space", _set(alias="my alias"), ["alias"], "register"),
    ("alias-slash", _set(alias="a/b"), ["alias"], "register"),
    ("alias-too-long", _set(alias="a" * 256), ["alias"], "register"),
    ("alias-number", _set(alias=3), ["alias"], "register"),
    ("description-too-long", _set(description="d" * 5001), ["description"], "register"),
    ("description-number", _set(description=5), ["description"], "register"),
    ("unknown-field", _set(model_version="1"), ["model_version"], "register"),
    ("unknown-fields", _set(stage="Production", owner="x"), ["stage", "owner"], "register"),
    ("baseline-unknown-field", _set(run_id="abc"), ["run_id"], "baseline"),
]


@pytest.mark.parametrize("case", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_requests_are_400_naming_the_field_and_write_nothing(world, case):
    case_id, mutate, words, endpoint = case
    w, srv = world, world.srv
    name = unique("invalid")
    body = mutate(full_body(w, name), w)
    before = store_snapshot(srv)
    resp = register(srv, w.dev_key, body, endpoint=endpoint)
    err = error_body(resp, 400, "INVALID_PARAMETER_VALUE")
    for word in words:
        assert word in err["message"], f"{case_id}: message does not name {word!r}: {err['message']!r}"
    after = store_snapshot(srv)
    assert after == before, f"{case_id} wrote to the store:\n{snapshot_diff(before, after)}"


def test_the_valid_body_of_the_400_cases_registers(world):
    """Control for the table above: the unmutated body is accepted (each case fails by its own field)."""
    w = world
    for endpoint in ("register", "baseline"):
        body = full_body(w, unique("control"))
        if endpoint == "baseline":
            body["model_type"] = unique("ctl").replace("-", "_")
        created(register(w.srv, w.dev_key, body, endpoint=endpoint))


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"register"', b"null", b"{\"model_name\": }",
                                 b'{"model_name": "a", "model_name": "b", "model_type": "c"}'],
                         ids=["truncated", "array", "string", "null", "syntax", "duplicate-member"])
def test_bodies_that_are_not_one_json_object_are_400(world, raw):
    w, srv = world, world.srv
    before = store_snapshot(srv)
    resp = register(srv, w.dev_key, data=raw)
    error_body(resp, 400, ("INVALID_PARAMETER_VALUE", "MALFORMED_REQUEST", "BAD_REQUEST"))
    assert store_snapshot(srv) == before


@pytest.mark.parametrize("key", ["", "a b", "k" * 256, "tab\there", "caf\xe9"],
                         ids=["empty", "inner-space", "too-long", "control", "non-ascii"])
def test_bad_idempotency_keys_are_400(world, key):
    w, srv = world, world.srv
    before = store_snapshot(srv)
    resp = register(srv, w.dev_key, full_body(w, unique("idem-bad")), idempotency_key=key)
    err = error_body(resp, 400, "INVALID_PARAMETER_VALUE")
    assert "Idempotency-Key" in err["message"], err
    assert store_snapshot(srv) == before


def test_a_model_name_with_a_slash_is_refused_or_addressable(world):
    """model_id is "<name>/<version>" and GET /api/v1/models/{name}/{version} takes the name as one
    path segment: a name with '/' must either be refused (400 naming model_name) or be readable back
    through the read routes."""
    w, srv = world, world.srv
    name = unique("team") + "/model"
    resp = register(srv, w.dev_key, full_body(w, name, alias=None))
    if resp.status_code == 400:
        assert "model_name" in resp.json()["message"], resp.text
        assert_nothing_for_model(srv, name)
        return
    body = created(resp)
    got = v1(srv, "GET", f"/models/{name.replace('/', '%2F')}/{body['version']}", w.dev_key)
    assert got.status_code == 200, (
        f"registered {name!r} (201) but GET /api/v1/models/<name>/1 cannot reach it: "
        f"{got.status_code} {got.text[:300]}")


# --------------------------------------------------------------------------------------------------
# Idempotency-Key
# --------------------------------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_answer(world):
    w, srv = world, world.srv
    name, key = unique("idem"), unique("idem-key")
    body = full_body(w, name)
    first = register(srv, w.dev_key, body, idempotency_key=key)
    first_body = created(first)
    assert first.headers.get("Idempotent-Replayed") is None
    before = store_snapshot(srv)
    second = register(srv, w.dev_key, body, idempotency_key=key)
    assert second.status_code == 201, second.text
    assert second.headers.get("Idempotent-Replayed") == "true", second.headers
    assert second.content == first.content, (first.text, second.text)
    assert second.json() == first_body
    assert store_snapshot(srv) == before, "a replay wrote to the store"
    assert [m["version"] for m in list_all_models(srv, w.dev_key, name=name)] == ["1"]
    assert len(events_of(srv, name)) == 1


def test_member_order_and_whitespace_do_not_make_a_different_request(world):
    w, srv = world, world.srv
    name, key = unique("idem-order"), unique("idem-key")
    body = full_body(w, name)
    first = created(register(srv, w.dev_key, data=json.dumps(body), idempotency_key=key))
    shuffled = dict(reversed(list(body.items())))
    shuffled["metrics"] = dict(reversed(list(body["metrics"].items())))
    raw = json.dumps(shuffled, indent=4, separators=(" ,  ", " :\t"))
    assert raw != json.dumps(body)
    again = register(srv, w.dev_key, data=raw, idempotency_key=key)
    assert again.status_code == 201, f"expected a replay, got {again.status_code} {again.text[:300]}"
    assert again.headers.get("Idempotent-Replayed") == "true", again.headers
    assert again.json() == first
    assert [m["version"] for m in list_all_models(srv, w.dev_key, name=name)] == ["1"]


@pytest.mark.parametrize("change", [
    {"version": "v9"}, {"metrics": {"accuracy": 0.96, "f1": 0.5}}, {"alias": "other"},
    {"tags": {"team": "ml", "extra": "1"}}, {"description": None}, {"artifact_path": "legacy"},
], ids=["label", "metric", "alias", "tag", "no-description", "artifact_path"])
def test_same_key_with_a_different_body_is_409_and_writes_nothing(world, change):
    w, srv = world, world.srv
    name, key = unique("idem-409"), unique("idem-key")
    created(register(srv, w.dev_key, full_body(w, name), idempotency_key=key))
    before = store_snapshot(srv)
    resp = register(srv, w.dev_key, full_body(w, name, **change), idempotency_key=key)
    error_body(resp, 409, "RESOURCE_CONFLICT")
    assert resp.headers.get("Idempotent-Replayed") is None
    assert store_snapshot(srv) == before, snapshot_diff(before, store_snapshot(srv))


def test_the_same_key_on_the_other_endpoint_is_a_conflict(world):
    w, srv = world, world.srv
    name, key = unique("idem-ep"), unique("idem-key")
    body = full_body(w, name)
    created(register(srv, w.dev_key, body, idempotency_key=key))
    error_body(register(srv, w.dev_key, body, idempotency_key=key, endpoint="baseline"), 409,
               "RESOURCE_CONFLICT")


def test_idempotency_keys_are_per_user(world):
    w, srv = world, world.srv
    key = unique("shared-key")
    mine, theirs = unique("idem-mine"), unique("idem-theirs")
    a = register(srv, w.dev_key, full_body(w, mine), idempotency_key=key)
    created(a)
    # Another user, same key: an independent request (a model of their own; the run is readable
    # under the default READ).
    b = register(srv, w.other_key, {"model_name": theirs, "model_type": "x", "model_uri": run_source(w.run)},
                 idempotency_key=key)
    body_b = created(b)
    assert b.headers.get("Idempotent-Replayed") is None
    assert body_b["model_name"] == theirs
    # ...even with exactly the first user's body (it targets the first user's model: 403, not a replay).
    c = register(srv, w.other_key, full_body(w, mine), idempotency_key=key)
    assert c.status_code == 403 and c.headers.get("Idempotent-Replayed") is None, (c.status_code, c.text[:300])


def test_a_failed_request_does_not_use_up_its_key(world):
    w, srv = world, world.srv
    name, key = unique("idem-fail"), unique("idem-key")
    missing = register(srv, w.dev_key, full_body(w, name, mlflow_run_id="0" * 32), idempotency_key=key)
    error_body(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    again = register(srv, w.dev_key, full_body(w, name), idempotency_key=key)
    body = created(again)
    assert again.headers.get("Idempotent-Replayed") is None and body["version"] == "1"


# --------------------------------------------------------------------------------------------------
# 404: all or nothing
# --------------------------------------------------------------------------------------------------


def _missing_cases(w: World):
    return {
        "missing-run": {"mlflow_run_id": "0123456789abcdef0123456789abcdef"},
        "no-model-at-path": {"mlflow_run_id": w.run.run_id, "artifact_path": "nothing-here"},
        "bare-run": {"mlflow_run_id": w.bare_run},
        "runs-uri-missing-run": {"model_uri": "runs:/0123456789abcdef0123456789abcdef/model"},
        "runs-uri-no-model": {"model_uri": f"runs:/{w.run.run_id}/nothing-here"},
        "models-uri-missing-model": {"model_uri": f"models:/{unique('nope')}/1"},
        "models-uri-missing-version": {"model_uri": "models:/__missing_version__/99"},
        "logged-model-missing": {"model_uri": "models:/m-0123456789abcdef0123456789abcdef"},
        "artifacts-missing-run": {"model_uri": f"mlflow-artifacts:/{w.run.experiment_id}/"
                                              f"0123456789abcdef0123456789abcdef/artifacts/model"},
        "artifacts-no-such-path": {"model_uri": f"{w.run.artifact_uri}/nothing-here"},
    }


MISSING_IDS = ["missing-run", "no-model-at-path", "bare-run", "runs-uri-missing-run", "runs-uri-no-model",
               "models-uri-missing-model", "models-uri-missing-version", "logged-model-missing",
               "artifacts-missing-run", "artifacts-no-such-path"]


@pytest.mark.parametrize("case", MISSING_IDS)
def test_a_missing_run_or_model_is_404_and_creates_nothing(world, case):
    w, srv = world, world.srv
    if case == "models-uri-missing-version":
        base = unique("has-v1")
        created(register(srv, w.dev_key, {"model_name": base, "model_type": "x",
                                          "mlflow_run_id": w.run.run_id}))
        source = {"model_uri": f"models:/{base}/99"}
    else:
        source = _missing_cases(w)[case]
    for endpoint in ("register", "baseline"):
        name = unique(f"404-{case}")
        body = {"model_name": name, "model_type": "classifier", "version": "v1", "metrics": {"a": 1},
                "tags": {"t": "1"}, "alias": "champion", **source}
        before = store_snapshot(srv)
        resp = register(srv, w.dev_key, body, endpoint=endpoint, idempotency_key=unique("k"))
        error_body(resp, 404, "RESOURCE_DOES_NOT_EXIST")
        after = store_snapshot(srv)
        assert after == before, f"{case} ({endpoint}) wrote:\n{snapshot_diff(before, after)}"
        assert_nothing_for_model(srv, name)


def test_a_404_into_an_existing_model_adds_nothing_to_it(world):
    w, srv = world, world.srv
    name = unique("existing")
    created(register(srv, w.dev_key, full_body(w, name)))
    before = store_rows_for_model(srv, name)
    resp = register(srv, w.dev_key, full_body(w, name, mlflow_run_id=w.bare_run, alias="moved"))
    error_body(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    assert store_rows_for_model(srv, name) == before
    assert [m["version"] for m in list_all_models(srv, w.dev_key, name=name)] == ["1"]
    assert len(events_of(srv, name)) == 1


# --------------------------------------------------------------------------------------------------
# 401 / 403
# --------------------------------------------------------------------------------------------------


def test_a_reader_key_is_403_naming_model_write(world):
    w, srv = world, world.srv
    for endpoint in ("register", "baseline"):
        name = unique("reader")
        before = store_snapshot(srv)
        resp = register(srv, w.reader_key, full_body(w, name), endpoint=endpoint)
        err = error_body(resp, 403, "PERMISSION_DENIED")
        assert err.get("required_scope") == "model:write", err
        assert "model:write" in err["message"], err
        assert store_snapshot(srv) == before
        assert_nothing_for_model(srv, name)


def test_no_key_is_401(world):
    w, srv = world, world.srv
    before = store_snapshot(srv)
    resp = register(srv, None, full_body(w, unique("anon")))
    assert resp.status_code == 401, resp.text
    assert store_snapshot(srv) == before


def test_registering_into_another_developers_model_is_403(world):
    """Default permission READ: the other developer can read the model but not add a version."""
    w, srv = world, world.srv
    name = unique("owned")
    created(register(srv, w.dev_key, full_body(w, name)))
    before = store_rows_for_model(srv, name)
    resp = register(srv, w.other_key, {"model_name": name, "model_type": "x",
                                       "model_uri": run_source(w.run), "alias": "hijack"})
    err = error_body(resp, 403, "PERMISSION_DENIED")
    assert err.get("required_permission") in ("EDIT", "MANAGE"), err
    assert store_rows_for_model(srv, name) == before
    error_body(v1(srv, "POST", f"/models/{name}/1/transition", w.other_key,
                  json_body={"stage": "Production"}), 403, "PERMISSION_DENIED")
    assert store_rows_for_model(srv, name) == before


# --------------------------------------------------------------------------------------------------
# Reads and transition
# --------------------------------------------------------------------------------------------------


def test_get_and_list_have_the_detailed_shape(world):
    w, srv = world, world.srv
    name = unique("shape")
    reg = created(register(srv, w.dev_key, full_body(w, name)))
    got = ok(v1(srv, "GET", f"/models/{name}/1", w.dev_key))
    assert set(got) == DETAILED_FIELDS, sorted(got)
    assert {k: got[k] for k in REGISTRATION_FIELDS} == reg
    assert got["description"] == "iris classifier"
    assert got["aliases"] == ["champion"]
    assert got["stage"] is None
    assert got["current_stage"] == "None"
    assert got["tags"] == {"dataset": "iris", "team": "ml"}, got["tags"]
    # A reader may read.
    assert ok(v1(srv, "GET", f"/models/{name}/1", w.reader_key)) == got
    listed = ok(v1(srv, "GET", "/models", w.dev_key, params={"name": name}))
    assert listed["models"] == [got], listed
    assert "next_page_token" not in listed


def test_get_errors(world):
    w, srv = world, world.srv
    name = unique("get-err")
    created(register(srv, w.dev_key, full_body(w, name)))
    error_body(v1(srv, "GET", f"/models/{name}/2", w.dev_key), 404, "RESOURCE_DOES_NOT_EXIST")
    error_body(v1(srv, "GET", f"/models/{unique('none')}/1", w.dev_key), 404, "RESOURCE_DOES_NOT_EXIST")
    for bad in ("abc", "-1", "1.0", "9" * 30):
        error_body(v1(srv, "GET", f"/models/{name}/{bad}", w.dev_key), 400, "INVALID_PARAMETER_VALUE")
    assert v1(srv, "GET", f"/models/{name}/1", None).status_code == 401
    for params in ({"max_results": 0}, {"max_results": 1001}, {"max_results": "x"}, {"page_token": "garbage!"}):
        error_body(v1(srv, "GET", "/models", w.dev_key, params=params), 400, "INVALID_PARAMETER_VALUE")


def test_list_filters_by_model_type_and_pages(world):
    w, srv = world, world.srv
    model_type = unique("kind").replace("-", "_")
    other_type = unique("kind").replace("-", "_")
    names = [unique("paged") for _ in range(2)]
    expected = set()
    for name in names:
        for _ in range(3):
            expected.add(created(register(srv, w.dev_key, {"model_name": name, "model_type": model_type,
                                                            "mlflow_run_id": w.run.run_id}))["model_id"])
    created(register(srv, w.dev_key, {"model_name": unique("other"), "model_type": other_type,
                                      "mlflow_run_id": w.run.run_id}))
    # Exact match only: a type that extends the filtered one is not listed.
    created(register(srv, w.dev_key, {"model_name": unique("longer"), "model_type": model_type + "x",
                                      "mlflow_run_id": w.run.run_id}))
    seen: list[str] = []
    token, pages = None, 0
    while True:
        params = {"model_type": model_type, "max_results": 4}
        if token:
            params["page_token"] = token
        page = ok(v1(srv, "GET", "/models", w.dev_key, params=params))
        pages += 1
        assert len(page["models"]) <= 4
        for m in page["models"]:
            assert set(m) == DETAILED_FIELDS and m["model_type"] == model_type, m
        seen += [m["model_id"] for m in page["models"]]
        token = page.get("next_page_token")
        if not token:
            break
        assert pages < 10
    assert pages == 2, pages
    assert len(seen) == len(set(seen)) == 6 and set(seen) == expected, seen
    # Name and type together.
    both = list_all_models(srv, w.dev_key, name=names[0], model_type=model_type)
    assert sorted(m["model_id"] for m in both) == sorted(f"{names[0]}/{v}" for v in "123")
    assert list_all_models(srv, w.dev_key, name=names[0], model_type=other_type) == []


@pytest.mark.parametrize("stage", ["Production", "Staging", "qa_env"])
def test_transition_sets_the_alias_and_the_stage_tag(world, models, stage):
    w, srv = world, world.srv
    name = unique("transition")
    created(register(srv, w.dev_key, full_body(w, name, alias=None)))
    created(register(srv, w.dev_key, full_body(w, name, mlflow_run_id=w.run_b.run_id, alias=None)))
    resp = ok(v1(srv, "POST", f"/models/{name}/1/transition", w.dev_key, json_body={"stage": stage}))
    assert set(resp) == DETAILED_FIELDS, sorted(resp)
    assert resp["model_id"] == f"{name}/1" and resp["stage"] == stage, resp
    assert resp["aliases"] == [stage.lower()], resp
    assert resp["tags"].get("lifecycle_stage") == stage, resp["tags"]
    assert ok(v1(srv, "GET", f"/models/{name}/1", w.dev_key)) == resp
    with tracking_as(srv, w.dev_key):
        client = mlflow_client(srv)
        assert client.get_model_version_by_alias(name, stage.lower()).version == "1"
        assert client.get_model_version(name, "1").tags["lifecycle_stage"] == stage
    np.testing.assert_array_equal(predictions(srv, w.dev_key, f"models:/{name}@{stage.lower()}", models.X),
                                  models.expected_a)
    # Moving the stage to version 2 moves the alias.
    ok(v1(srv, "POST", f"/models/{name}/2/transition", w.dev_key, json_body={"stage": stage}))
    assert ok(v1(srv, "GET", f"/models/{name}/1", w.dev_key))["aliases"] == []
    np.testing.assert_array_equal(predictions(srv, w.dev_key, f"models:/{name}@{stage.lower()}", models.X),
                                  models.expected_b)


def test_transition_errors_write_nothing(world):
    w, srv = world, world.srv
    name = unique("transition-err")
    created(register(srv, w.dev_key, full_body(w, name, alias=None)))
    before = store_snapshot(srv)
    path = f"/models/{name}/1/transition"
    for body in ({}, {"stage": ""}, {"stage": "latest"}, {"stage": "v2"}, {"stage": "two words"},
                 {"stage": 3}, {"stage": "s" * 65}, {"stage": "Production", "archive": True}):
        error_body(v1(srv, "POST", path, w.dev_key, json_body=body), 400, "INVALID_PARAMETER_VALUE")
    error_body(v1(srv, "POST", f"/models/{name}/7/transition", w.dev_key, json_body={"stage": "Production"}),
               404, "RESOURCE_DOES_NOT_EXIST")
    err = error_body(v1(srv, "POST", path, w.reader_key, json_body={"stage": "Production"}), 403,
                     "PERMISSION_DENIED")
    assert err.get("required_scope") == "model:write", err
    after = store_snapshot(srv)
    assert after == before, snapshot_diff(before, after)


# --------------------------------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------------------------------


def test_parallel_registrations_into_one_new_model_get_versions_1_to_8(world):
    w, srv = world, world.srv
    name = unique("parallel")
    barrier = threading.Barrier(8)

    def one(i):
        barrier.wait()
        return register(srv, w.dev_key, {"model_name": name, "model_type": "classifier",
                                         "mlflow_run_id": w.run.run_id, "version": f"p{i}"},
                        idempotency_key=unique(f"par-{i}"))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    bodies = [created(r) for r in answers]
    assert all(r.headers.get("Idempotent-Replayed") is None for r in answers)
    assert sorted(int(b["version"]) for b in bodies) == list(range(1, 9)), [b["version"] for b in bodies]
    # Each answer names its own label.
    assert sorted(b["version_label"] for b in bodies) == sorted(f"p{i}" for i in range(8))
    rows = store_rows_for_model(srv, name)
    assert len(rows["registered_models"]) == 1
    assert sorted(r[1] for r in rows["model_versions"]) == list(range(1, 9))
    assert len(rows["registration_events"]) == 8
    assert len(list_all_models(srv, w.dev_key, name=name)) == 8


def test_parallel_registrations_with_the_same_key_and_body_make_one_version(world):
    w, srv = world, world.srv
    name, key = unique("parallel-same"), unique("same-key")
    body = full_body(w, name)
    barrier = threading.Barrier(8)

    def one(_):
        barrier.wait()
        return register(srv, w.dev_key, body, idempotency_key=key)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    bodies = [created(r) for r in answers]
    assert len({r.content for r in answers}) == 1, [r.text for r in answers]
    assert bodies[0]["model_id"] == f"{name}/1"
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 7, \
        [r.headers.get("Idempotent-Replayed") for r in answers]
    rows = store_rows_for_model(srv, name)
    assert len(rows["model_versions"]) == 1 and len(rows["registration_events"]) == 1, rows


# --------------------------------------------------------------------------------------------------
# Two tenants, --default-permission NO_PERMISSIONS
# --------------------------------------------------------------------------------------------------

TENANT_A, TENANT_B = "reg-tenant-a", "reg-tenant-b"


@dataclass
class Tenants:
    srv: ServerProcess
    a_key: str
    b_key: str
    a_run: LoggedRun
    b_run: LoggedRun
    b_model: str  # B's registered model, version 1 from b_run


@pytest.fixture(scope="module")
def tenants(tmp_path_factory, models):
    srv = ServerProcess("hokusai", tmp_path_factory.mktemp("reg-tenants"),
                        extra_args=["--default-permission", "NO_PERMISSIONS"])
    srv.start()
    try:
        a_key = srv.create_key(TENANT_A, "developer")["api_key"]
        b_key = srv.create_key(TENANT_B, "developer")["api_key"]
        a_run = log_run_with_model(srv, a_key, models.a, legacy_path="legacy")
        b_run = log_run_with_model(srv, b_key, models.b, legacy_path="legacy")
        b_model = unique("b-model")
        created(register(srv, b_key, {"model_name": b_model, "model_type": "secret_type",
                                      "mlflow_run_id": b_run.run_id, "alias": "champion"}))
        yield Tenants(srv, a_key, b_key, a_run, b_run, b_model)
    finally:
        srv.stop_gracefully_or_fail()


def _foreign_sources(t: Tenants) -> dict[str, dict]:
    out = {
        "run": {"mlflow_run_id": t.b_run.run_id},
        "run-legacy-path": {"mlflow_run_id": t.b_run.run_id, "artifact_path": "legacy"},
        "runs-uri": {"model_uri": f"runs:/{t.b_run.run_id}/model"},
        "model-version-uri": {"model_uri": f"models:/{t.b_model}/1"},
        "run-artifacts-uri": {"model_uri": f"{t.b_run.artifact_uri}/legacy"},
    }
    if t.b_run.model_id:
        out["logged-model-uri"] = {"model_uri": f"models:/{t.b_run.model_id}"}
    return out


def test_another_tenants_run_or_uri_is_404_like_a_missing_one(tenants):
    t, srv = tenants, tenants.srv
    missing = register(srv, t.a_key, {"model_name": unique("a"), "model_type": "x",
                                      "mlflow_run_id": "0123456789abcdef0123456789abcdef"})
    missing_err = error_body(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    for label, source in _foreign_sources(t).items():
        name = unique(f"a-steals-{label}")
        before = store_snapshot(srv)
        resp = register(srv, t.a_key, {"model_name": name, "model_type": "x", "alias": "prod",
                                       "metrics": {"m": 1}, "tags": {"k": "v"}, **source},
                        idempotency_key=unique("k"))
        err = error_body(resp, 404, "RESOURCE_DOES_NOT_EXIST")
        assert set(err) == set(missing_err), (label, err, missing_err)
        if label != "model-version-uri":  # that URI names B's model itself
            assert t.b_model not in resp.text, (label, resp.text)
        assert "secret_type" not in resp.text, (label, resp.text)
        after = store_snapshot(srv)
        assert after == before, f"{label}: {snapshot_diff(before, after)}"
        assert_nothing_for_model(srv, name)
    # The run-id message reads exactly as for a missing run.
    resp = register(srv, t.a_key, {"model_name": unique("a"), "model_type": "x",
                                   "mlflow_run_id": t.b_run.run_id})
    assert error_body(resp, 404, "RESOURCE_DOES_NOT_EXIST")["message"] == \
        missing_err["message"].replace("0123456789abcdef0123456789abcdef", t.b_run.run_id)


def test_another_tenants_model_is_403_and_unchanged(tenants):
    t, srv = tenants, tenants.srv
    before = store_rows_for_model(srv, t.b_model)
    for endpoint in ("register", "baseline"):
        resp = register(srv, t.a_key, {"model_name": t.b_model, "model_type": "x", "alias": "champion",
                                       "mlflow_run_id": t.a_run.run_id}, endpoint=endpoint)
        error_body(resp, 403, "PERMISSION_DENIED")
    error_body(v1(srv, "POST", f"/models/{t.b_model}/1/transition", t.a_key,
                  json_body={"stage": "Production"}), 403, "PERMISSION_DENIED")
    assert store_rows_for_model(srv, t.b_model) == before
    # The owner still can.
    created(register(srv, t.b_key, {"model_name": t.b_model, "model_type": "secret_type",
                                    "mlflow_run_id": t.b_run.run_id}))


def test_another_tenants_models_are_hidden_from_reads(tenants):
    t, srv = tenants, tenants.srv
    mine = unique("a-model")
    created(register(srv, t.a_key, {"model_name": mine, "model_type": "secret_type",
                                    "mlflow_run_id": t.a_run.run_id}))
    listed = list_all_models(srv, t.a_key)
    assert {m["model_name"] for m in listed} == {mine}, [m["model_id"] for m in listed]
    assert list_all_models(srv, t.a_key, name=t.b_model) == []
    assert [m["model_name"] for m in list_all_models(srv, t.a_key, model_type="secret_type")] == [mine]
    # Paging through the filtered list never shows B's entries either.
    assert [m["model_name"] for m in list_all_models(srv, t.a_key, page_size=1)] == [mine]
    assert t.b_model in {m["model_name"] for m in list_all_models(srv, t.b_key)}
    assert mine not in {m["model_name"] for m in list_all_models(srv, t.b_key)}
    resp = v1(srv, "GET", f"/models/{t.b_model}/1", t.a_key)
    assert resp.status_code in (403, 404) and t.b_run.run_id not in resp.text, resp.text
    # The admin sees both.
    names = {m["model_name"] for m in list_all_models(srv, srv.admin_key)}
    assert {mine, t.b_model} <= names


def test_racing_tenants_never_write_into_each_others_new_model(tenants):
    """A and B register into the same new name at the same moment. Whoever creates it owns it; the
    other must be refused (not add a version to a model they have no permission on)."""
    t, srv = tenants, tenants.srv
    violations = []
    for round_ in range(15):
        name = unique(f"race{round_}")
        barrier = threading.Barrier(4)

        def go(who):
            key, run = (t.a_key, t.a_run) if who.startswith("a") else (t.b_key, t.b_run)
            barrier.wait()
            return who[0], register(srv, key, {"model_name": name, "model_type": "race",
                                               "mlflow_run_id": run.run_id})

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(go, ["a1", "b1", "a2", "b2"]))
        with_201 = {who for who, r in answers if r.status_code == 201}
        for who, r in answers:
            assert r.status_code in (201, 403, 409), (who, r.status_code, r.text[:300])
        rows = store_rows_for_model(srv, name)
        owners = {row[1] for row in rows["registered_model_permissions"] if row[2] == "MANAGE"}
        assert len(owners) == 1, (name, rows)
        owner = "a" if owners == {TENANT_A} else "b"
        if with_201 - {owner}:
            violations.append((name, owner, [(who, r.status_code, r.text[:120]) for who, r in answers]))
    assert not violations, (
        "both tenants got 201 for the same new model (one wrote a version into a model it has no "
        f"permission on): {violations[:3]}")
