"""Gateway mode (issue #5): `hokusai-registry serve --upstream URL` in front of a real `mlflow server`.

The module starts its own pair — a real `mlflow server` from the running venv (`upstream`) and the
binary in gateway mode in front of it (`gw`, `--default-permission NO_PERMISSIONS`) — so it runs in
the normal pass of the suite with whatever client the venv holds. Keys and permissions are local;
everything MLflow goes to the upstream, which is checked directly (without a key: the real server
has none) to prove what reached it and what did not.

- a developer key runs the whole tracking + registry journey with the stock client (experiment,
  run, params, metrics, log_model with scikit-learn, register, alias, `models:/name@alias` load);
- a reader key gets 403 naming the missing scope on every write, and the upstream stays unchanged;
- a second developer can neither read nor change the first one's experiment, run, artifacts or
  model (ownership recorded locally when they were created through the gateway);
- searches never show the other tenant's experiments, runs or models;
- `/health/mlflow` and `/ready` report the upstream; an upstream that is down is 502 with an
  MLflow-style JSON body and makes `/ready` 503 naming it; a slow upstream is 504.

Header policy, canonical forwarding and request smuggling against a recording upstream:
test_gateway_protocol.py. A 1 GiB artifact through the gateway: test_gateway_large_artifact.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import requests

from itest_helpers import (
    API_PREFIX,
    ServerProcess,
    auth_headers,
    free_port,
    log_sklearn_model,
    predictions_of,
    tracking_token,
    unique,
)
from recording_upstream import RecordingUpstream

pytestmark = pytest.mark.hokusai_only  # the Hokusai binary in gateway mode

ART = "/api/2.0/mlflow-artifacts/artifacts"
T0 = 1_700_000_000_000
TIMEOUT = 30


# --------------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """A real `mlflow server` of the running venv (sqlite, proxied artifacts)."""
    srv = ServerProcess("mlflow", tmp_path_factory.mktemp("gw-upstream"), upstream=False)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def gw(upstream, tmp_path_factory):
    """The gateway in front of `upstream`; nobody reads what they did not create or were granted."""
    srv = ServerProcess("gateway", tmp_path_factory.mktemp("gw"), ["--default-permission", "NO_PERMISSIONS"],
                        upstream=upstream)
    srv.start()
    yield srv
    srv.stop_gracefully_or_fail()


@pytest.fixture(scope="module")
def keys(gw):
    """Two developers (different users) and a reader."""
    return {
        "dev_a": gw.create_key(unique("gw-dev-a"), template="developer")["api_key"],
        "dev_b": gw.create_key(unique("gw-dev-b"), template="developer")["api_key"],
        "reader": gw.create_key(unique("gw-reader"), template="reader")["api_key"],
    }


def call(srv, key: str | None, method: str, path: str, **kw) -> requests.Response:
    """One request to `srv` with exactly this key (None: none)."""
    kw.setdefault("timeout", TIMEOUT)
    headers = dict(kw.pop("headers", {}) or {})
    headers.update(auth_headers(key))
    return requests.request(method, srv.url + path, headers=headers, **kw)


def direct(upstream, method: str, path: str, **kw) -> requests.Response:
    """The upstream itself, bypassing the gateway (the real server has no keys)."""
    kw.setdefault("timeout", TIMEOUT)
    return requests.request(method, upstream.url + path, **kw)


def ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, f"{resp.request.method} {resp.url} -> {resp.status_code} {resp.text[:500]}"
    return resp.json() if resp.content.strip() else {}


def assert_mlflow_error(resp: requests.Response, status: int, what: str) -> dict:
    assert resp.status_code == status, f"{what}: expected {status}, got {resp.status_code} {resp.text[:500]!r}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), (what, dict(resp.headers))
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("error_code"), str) and body["error_code"], (what, body)
    assert isinstance(body.get("message"), str) and body["message"], (what, body)
    return body


def assert_forbidden(resp: requests.Response, what: str) -> dict:
    body = assert_mlflow_error(resp, 403, what)
    assert body["error_code"] == "PERMISSION_DENIED", (what, body)
    return body


# --------------------------------------------------------------------------------------------------
# The stock client, end to end, with a developer key
# --------------------------------------------------------------------------------------------------


def test_developer_key_runs_the_whole_journey_through_the_gateway(gw, upstream, keys, models, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", gw.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", keys["dev_a"])
    exp_name, model_name = unique("gw-journey"), unique("gw-model")

    exp_id = mlflow.set_experiment(exp_name).experiment_id
    with mlflow.start_run(run_name="through-the-gateway") as run:
        mlflow.log_param("alpha", "0.5")
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.set_tag("stage", "test")
        log_sklearn_model(models.a, "model", registered_model_name=model_name)
    run_id = run.info.run_id

    client = mlflow.MlflowClient()
    [mv] = client.search_model_versions(f"name = '{model_name}'")
    client.set_registered_model_alias(model_name, "champion", mv.version)
    assert client.get_model_version_by_alias(model_name, "champion").version == mv.version
    np.testing.assert_array_equal(predictions_of(f"models:/{model_name}@champion", models.X), models.expected_a)

    got = client.get_run(run_id)
    assert got.data.params == {"alpha": "0.5"}
    assert got.data.metrics == {"loss": pytest.approx(1.0 / 3)}
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == pytest.approx([1.0, 0.5, 1.0 / 3])

    # It all went to the upstream: the real server has the run, the model, the alias and the files.
    up_run = ok(direct(upstream, "GET", API_PREFIX + "/runs/get", params={"run_id": run_id}))["run"]
    assert up_run["info"]["experiment_id"] == exp_id
    assert {p["key"]: p["value"] for p in up_run["data"]["params"]} == {"alpha": "0.5"}
    up_mv = ok(direct(upstream, "GET", API_PREFIX + "/registered-models/alias",
                      params={"name": model_name, "alias": "champion"}))["model_version"]
    assert up_mv["version"] == mv.version
    stored = [p for p in upstream.artifacts_dir.rglob("MLmodel")]
    assert stored, f"no MLmodel file under the upstream's artifact directory {upstream.artifacts_dir}"


def test_whoami_and_keys_api_answer_locally(gw, keys, upstream):
    me = ok(call(gw, keys["dev_a"], "GET", "/api/v1/whoami"))
    assert "experiment:write" in str(me) and "model:write" in str(me), me
    # The upstream knows nothing of keys: these routes are not forwarded.
    assert direct(upstream, "GET", "/api/v1/whoami").status_code == 404


# --------------------------------------------------------------------------------------------------
# A reader key writes nothing
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def owned(gw, keys):
    """Developer A's experiment, run (with a metric and an artifact) and registered model (version 1
    and alias), created through the gateway over REST."""
    a = keys["dev_a"]
    exp_name, rm = unique("gw-owned"), unique("gw-owned-model")
    exp_id = ok(call(gw, a, "POST", API_PREFIX + "/experiments/create", json={"name": exp_name}))["experiment_id"]
    run = ok(call(gw, a, "POST", API_PREFIX + "/runs/create",
                  json={"experiment_id": exp_id, "start_time": T0, "run_name": "owned"}))["run"]["info"]
    run_id = run["run_id"]
    ok(call(gw, a, "POST", API_PREFIX + "/runs/log-metric",
            json={"run_id": run_id, "key": "m", "value": 1.0, "timestamp": T0, "step": 0}))
    art = f"{ART}/{exp_id}/{run_id}/artifacts/owned.txt"
    assert call(gw, a, "PUT", art, data=b"owned by a").status_code == 200
    ok(call(gw, a, "POST", API_PREFIX + "/registered-models/create", json={"name": rm}))
    ok(call(gw, a, "POST", API_PREFIX + "/model-versions/create",
            json={"name": rm, "source": run["artifact_uri"] + "/owned.txt", "run_id": run_id}))
    ok(call(gw, a, "POST", API_PREFIX + "/registered-models/alias",
            json={"name": rm, "alias": "prod", "version": "1"}))
    return {"exp_id": exp_id, "exp_name": exp_name, "run_id": run_id, "rm": rm, "art": art,
            "artifact_uri": run["artifact_uri"]}


def upstream_state(upstream, owned) -> dict:
    """What the upstream holds of A's things, read directly."""
    exp = ok(direct(upstream, "GET", API_PREFIX + "/experiments/get", params={"experiment_id": owned["exp_id"]}))
    run = ok(direct(upstream, "GET", API_PREFIX + "/runs/get", params={"run_id": owned["run_id"]}))
    rm = ok(direct(upstream, "GET", API_PREFIX + "/registered-models/get", params={"name": owned["rm"]}))
    versions = ok(direct(upstream, "GET", API_PREFIX + "/model-versions/search",
                         params={"filter": f"name = '{owned['rm']}'"}))
    files = ok(direct(upstream, "GET", ART, params={"path": f"{owned['exp_id']}/{owned['run_id']}/artifacts"}))
    experiments = ok(direct(upstream, "POST", API_PREFIX + "/experiments/search", json={"max_results": 1000}))
    models = ok(direct(upstream, "GET", API_PREFIX + "/registered-models/search", params={"max_results": 1000}))
    return {
        "experiment": exp["experiment"],
        "run": run["run"],
        "model": rm["registered_model"],
        "versions": sorted(v["version"] for v in versions.get("model_versions", [])),
        "files": files,
        "experiment_names": sorted(e["name"] for e in experiments.get("experiments", [])),
        "model_names": sorted(m["name"] for m in models.get("registered_models", [])),
        "owned_file": direct(upstream, "GET", owned["art"]).content,
    }


def write_calls(owned) -> list[tuple[str, str, dict]]:
    """(method, path, kwargs) of writes aimed at A's things (and creates of new ones), under the
    three spellings a client may use."""
    e, r, rm = owned["exp_id"], owned["run_id"], owned["rm"]
    m = API_PREFIX
    calls = [
        ("POST", m + "/experiments/create", {"json": {"name": unique("reader-exp")}}),
        ("POST", m + "/experiments/update", {"json": {"experiment_id": e, "new_name": unique("renamed")}}),
        ("POST", m + "/experiments/delete", {"json": {"experiment_id": e}}),
        ("POST", m + "/experiments/set-experiment-tag", {"json": {"experiment_id": e, "key": "k", "value": "v"}}),
        ("POST", m + "/runs/create", {"json": {"experiment_id": e, "start_time": T0}}),
        ("POST", m + "/runs/log-metric", {"json": {"run_id": r, "key": "evil", "value": 9.0, "timestamp": T0}}),
        ("POST", m + "/runs/log-parameter", {"json": {"run_id": r, "key": "evil", "value": "1"}}),
        ("POST", m + "/runs/log-batch", {"json": {"run_id": r, "metrics": [
            {"key": "evil", "value": 1.0, "timestamp": T0, "step": 0}]}}),
        ("POST", m + "/runs/set-tag", {"json": {"run_id": r, "key": "evil", "value": "1"}}),
        ("POST", m + "/runs/update", {"json": {"run_id": r, "status": "KILLED"}}),
        ("POST", m + "/runs/delete", {"json": {"run_id": r}}),
        ("POST", m + "/registered-models/create", {"json": {"name": unique("reader-model")}}),
        ("PATCH", m + "/registered-models/update", {"json": {"name": rm, "description": "evil"}}),
        ("POST", m + "/registered-models/rename", {"json": {"name": rm, "new_name": unique("stolen")}}),
        ("DELETE", m + "/registered-models/delete", {"json": {"name": rm}}),
        ("POST", m + "/model-versions/create", {"json": {"name": rm, "source": owned["artifact_uri"] + "/x"}}),
        ("DELETE", m + "/model-versions/delete", {"json": {"name": rm, "version": "1"}}),
        ("POST", m + "/registered-models/alias", {"json": {"name": rm, "alias": "evil", "version": "1"}}),
        ("DELETE", m + "/registered-models/alias", {"params": {"name": rm, "alias": "prod"}}),
        ("POST", m + "/model-versions/transition-stage", {"json": {"name": rm, "version": "1", "stage": "Archived",
                                                                    "archive_existing_versions": False}}),
        ("PUT", f"{ART}/{e}/{r}/artifacts/evil.txt", {"data": b"evil"}),
        ("PUT", owned["art"], {"data": b"overwritten"}),
        ("DELETE", owned["art"], {}),
    ]
    spelled = []
    for method, path, kw in calls:
        spelled.append((method, path, kw))
    # The same writes through the mount prefixes and the UI's spelling (one of each is enough: the
    # route table is the same; test_authz_matrix.py enumerates them all natively).
    spelled.append(("POST", "/ajax-api/2.0/mlflow/experiments/create", {"json": {"name": unique("ajax")}}))
    spelled.append(("POST", "/mlflow/api/2.0/mlflow/runs/log-metric",
                    {"json": {"run_id": r, "key": "evil", "value": 9.0, "timestamp": T0}}))
    spelled.append(("PUT", f"/api/mlflow{ART}/{e}/{r}/artifacts/evil2.txt", {"data": b"evil"}))
    return spelled


def test_reader_key_gets_403_naming_the_scope_on_every_write(gw, upstream, keys, owned):
    before = upstream_state(upstream, owned)
    problems = []
    for method, path, kw in write_calls(owned):
        resp = call(gw, keys["reader"], method, path, **kw)
        try:
            body = assert_forbidden(resp, f"reader {method} {path}")
            required = body.get("required_scope")
            assert required in ("experiment:write", "model:write"), f"{method} {path}: {body}"
            assert required in body["message"], f"{method} {path}: the message does not name {required}: {body}"
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, f"{len(problems)} writes not refused as expected:\n" + "\n".join(problems)
    assert upstream_state(upstream, owned) == before, "a refused write reached the upstream"


# --------------------------------------------------------------------------------------------------
# Two developers: ownership recorded locally on create through the gateway
# --------------------------------------------------------------------------------------------------


def test_second_developer_cannot_touch_the_first_ones_things(gw, upstream, keys, owned):
    before = upstream_state(upstream, owned)
    b = keys["dev_b"]
    e, r, rm = owned["exp_id"], owned["run_id"], owned["rm"]
    reads = [
        ("GET", API_PREFIX + "/experiments/get", {"params": {"experiment_id": e}}),
        ("GET", API_PREFIX + "/experiments/get-by-name", {"params": {"experiment_name": owned["exp_name"]}}),
        ("GET", API_PREFIX + "/runs/get", {"params": {"run_id": r}}),
        ("GET", API_PREFIX + "/metrics/get-history", {"params": {"run_id": r, "metric_key": "m"}}),
        ("GET", API_PREFIX + "/registered-models/get", {"params": {"name": rm}}),
        ("GET", API_PREFIX + "/model-versions/get", {"params": {"name": rm, "version": "1"}}),
        ("GET", API_PREFIX + "/registered-models/alias", {"params": {"name": rm, "alias": "prod"}}),
        ("GET", owned["art"], {}),
        ("GET", ART, {"params": {"path": f"{e}/{r}/artifacts"}}),
    ]
    writes = [w for w in write_calls(owned) if "create" not in w[1] or "model-versions" in w[1]
              or "runs/create" in w[1]]
    problems = []
    for method, path, kw in reads + writes:
        resp = call(gw, b, method, path, **kw)
        try:
            assert_forbidden(resp, f"developer B {method} {path}")
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, f"{len(problems)} calls of B on A's things not refused:\n" + "\n".join(problems)
    assert upstream_state(upstream, owned) == before, "B changed A's things upstream"
    # A still can (the refusals were about B, not about the things).
    ok(call(gw, keys["dev_a"], "GET", API_PREFIX + "/runs/get", params={"run_id": r}))
    assert call(gw, keys["dev_a"], "GET", owned["art"]).content == b"owned by a"


def test_second_developer_cannot_use_the_first_ones_things_with_the_stock_client(gw, keys, owned, tmp_path):
    import mlflow
    from mlflow.exceptions import MlflowException

    with tracking_token(keys["dev_b"]):
        client = mlflow.MlflowClient(tracking_uri=gw.url)
        for action in (
            lambda: client.get_experiment(owned["exp_id"]),
            lambda: client.log_metric(owned["run_id"], "evil", 1.0),
            lambda: client.set_registered_model_alias(owned["rm"], "evil", "1"),
            lambda: client.delete_registered_model(owned["rm"]),
        ):
            with pytest.raises(MlflowException) as excinfo:
                action()
            assert excinfo.value.error_code == "PERMISSION_DENIED", excinfo.value


def test_searches_hide_the_other_tenants_things(gw, upstream, keys, owned):
    import mlflow

    b = keys["dev_b"]
    b_exp_name, b_rm = unique("gw-b-own"), unique("gw-b-model")
    b_exp = ok(call(gw, b, "POST", API_PREFIX + "/experiments/create", json={"name": b_exp_name}))["experiment_id"]
    ok(call(gw, b, "POST", API_PREFIX + "/registered-models/create", json={"name": b_rm}))

    # The upstream holds both tenants' things ...
    upstream_names = upstream_state(upstream, owned)
    assert {owned["exp_name"], b_exp_name} <= set(upstream_names["experiment_names"])
    assert {owned["rm"], b_rm} <= set(upstream_names["model_names"])

    # ... B's searches through the gateway show B's and never A's, by every spelling.
    for prefix in (API_PREFIX, "/ajax-api/2.0/mlflow", "/mlflow/api/2.0/mlflow"):
        exps = ok(call(gw, b, "POST", prefix + "/experiments/search", json={"max_results": 1000}))
        names = [x["name"] for x in exps.get("experiments", [])]
        assert b_exp_name in names and owned["exp_name"] not in names, (prefix, names)
        exps_get = ok(call(gw, b, "GET", prefix + "/experiments/search", params={"max_results": 1000}))
        assert owned["exp_name"] not in str(exps_get), prefix
        models = ok(call(gw, b, "GET", prefix + "/registered-models/search", params={"max_results": 1000}))
        model_names = [x["name"] for x in models.get("registered_models", [])]
        assert b_rm in model_names and owned["rm"] not in model_names, (prefix, model_names)
        versions = ok(call(gw, b, "GET", prefix + "/model-versions/search", params={"max_results": 1000}))
        assert owned["rm"] not in str(versions), prefix
    runs = call(gw, b, "POST", API_PREFIX + "/runs/search", json={"experiment_ids": [owned["exp_id"], b_exp]})
    assert runs.status_code in (200, 403), runs.text[:300]
    assert owned["run_id"] not in runs.text

    with tracking_token(b):
        client = mlflow.MlflowClient(tracking_uri=gw.url)
        seen = [x.name for x in client.search_experiments(max_results=1000)]
        assert b_exp_name in seen and owned["exp_name"] not in seen
        seen_models = [x.name for x in client.search_registered_models(max_results=1000)]
        assert b_rm in seen_models and owned["rm"] not in seen_models

    # A sees its own, not B's.
    exps = ok(call(gw, keys["dev_a"], "POST", API_PREFIX + "/experiments/search", json={"max_results": 1000}))
    names = [x["name"] for x in exps.get("experiments", [])]
    assert owned["exp_name"] in names and b_exp_name not in names, names


def test_admin_sees_everything_through_the_gateway(gw, owned):
    exps = ok(gw.http.post(gw.url + API_PREFIX + "/experiments/search", json={"max_results": 1000}, timeout=TIMEOUT))
    assert owned["exp_name"] in [x["name"] for x in exps["experiments"]]


def test_permissions_can_be_granted_on_resources_created_around_the_gateway(gw, upstream, keys):
    """An experiment and a model that already existed upstream (created directly, not through the
    gateway) follow --default-permission (NO_PERMISSIONS here) until an admin grants on them
    through MLflow's permission endpoints on the gateway; unknown ones are 404 there."""
    b = keys["dev_b"]
    user_b = ok(call(gw, b, "GET", "/api/v1/whoami"))["user_id"]
    exp_id = ok(direct(upstream, "POST", API_PREFIX + "/experiments/create",
                       json={"name": unique("gw-around")}))["experiment_id"]
    model = unique("gw-around-model")
    ok(direct(upstream, "POST", API_PREFIX + "/registered-models/create", json={"name": model}))

    assert_forbidden(call(gw, b, "GET", API_PREFIX + "/experiments/get", params={"experiment_id": exp_id}), "exp")
    assert_forbidden(call(gw, b, "GET", API_PREFIX + "/registered-models/get", params={"name": model}), "model")

    admin = gw.admin_key
    ok(call(gw, admin, "POST", API_PREFIX + "/experiments/permissions/create",
            json={"experiment_id": exp_id, "username": user_b, "permission": "READ"}))
    ok(call(gw, admin, "POST", API_PREFIX + "/registered-models/permissions/create",
            json={"name": model, "username": user_b, "permission": "READ"}))
    got = ok(call(gw, admin, "GET", API_PREFIX + "/experiments/permissions/get",
                  params={"experiment_id": exp_id, "username": user_b}))
    assert got["experiment_permission"]["permission"] == "READ", got

    assert ok(call(gw, b, "GET", API_PREFIX + "/experiments/get",
                   params={"experiment_id": exp_id}))["experiment"]["experiment_id"] == exp_id
    assert ok(call(gw, b, "GET", API_PREFIX + "/registered-models/get",
                   params={"name": model}))["registered_model"]["name"] == model
    # READ is not EDIT.
    assert_forbidden(call(gw, b, "PATCH", API_PREFIX + "/registered-models/update",
                          json={"name": model, "description": "no"}), "update")

    for path, body in ((API_PREFIX + "/experiments/permissions/create",
                        {"experiment_id": "987654321", "username": user_b, "permission": "READ"}),
                       (API_PREFIX + "/registered-models/permissions/create",
                        {"name": unique("gw-nowhere"), "username": user_b, "permission": "READ"})):
        err = assert_mlflow_error(call(gw, admin, "POST", path, json=body), 404, path)
        assert err["error_code"] == "RESOURCE_DOES_NOT_EXIST", err


# --------------------------------------------------------------------------------------------------
# Operations: /health/mlflow, /ready, an upstream that is down or slow
# --------------------------------------------------------------------------------------------------


def _flat(obj, prefix="") -> dict[str, object]:
    """{"a.b.c": value} for every leaf of a JSON document (keys lower-cased)."""
    out: dict[str, object] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{str(k).lower()}."))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_flat(v, f"{prefix}{i}."))
    else:
        out[prefix.rstrip(".")] = obj
    return out


def reachability(flat: dict[str, object]) -> list[bool]:
    """The boolean verdicts under any key naming reachability ({"reachable": true} or
    {"reachable": {"ok": true, ...}} alike)."""
    return [v for k, v in flat.items() if "reachable" in k and isinstance(v, bool)]


def health_report(srv) -> tuple[int, dict[str, object], str]:
    resp = requests.get(srv.url + "/health/mlflow", timeout=TIMEOUT)  # public: no key
    assert resp.headers.get("Content-Type", "").startswith("application/json"), (resp.status_code, resp.text[:300])
    return resp.status_code, _flat(resp.json()), resp.text


def test_health_mlflow_and_ready_report_a_healthy_upstream(gw, upstream):
    status, flat, text = health_report(gw)
    assert status == 200, text
    reachable = reachability(flat)
    assert reachable and all(reachable), text
    assert upstream.url in text, f"/health/mlflow does not name the upstream: {text}"
    for part in ("experiments", "artifacts"):
        assert any(part in k for k in flat), f"/health/mlflow says nothing about the {part} API: {text}"
        verdicts = [v for k, v in flat.items() if part in k and isinstance(v, bool)]
        assert verdicts and all(verdicts), f"the {part} API is not reported healthy: {text}"
        assert any(part in k and "latency" in k and isinstance(v, (int, float)) and v >= 0 for k, v in flat.items()), (
            f"no latency for the {part} API: {text}")
    assert not any(isinstance(v, str) and v.lower() in ("down", "error", "unreachable", "failed")
                   for v in flat.values()), text
    ready = requests.get(gw.url + "/ready", timeout=TIMEOUT)
    assert ready.status_code == 200, ready.text
    assert requests.get(gw.url + "/health", timeout=TIMEOUT).text == "OK"


@pytest.fixture
def doubled_gateway(tmp_path_factory):
    """Factory: a gateway in front of a fresh RecordingUpstream (extra flags as arguments)."""
    made: list[tuple[ServerProcess, RecordingUpstream]] = []

    def make(*extra: str) -> tuple[ServerProcess, RecordingUpstream]:
        up = RecordingUpstream(unique("double")).start()
        srv = ServerProcess("gateway", tmp_path_factory.mktemp("gw-double"), list(extra), upstream=up.url)
        made.append((srv, up))
        srv.start()
        return srv, up

    yield make
    problems = []
    for srv, up in made:
        if srv.alive():
            problem = srv.graceful_stop_problem()
            if problem:
                problems.append(problem)
        up.stop()
    if problems:
        pytest.fail("\n\n".join(problems))


def test_upstream_down_is_502_json_and_ready_503_naming_it(doubled_gateway):
    srv, up = doubled_gateway()
    assert ok(srv.http.get(srv.url + API_PREFIX + "/experiments/get", params={"experiment_id": "0"},
                           timeout=TIMEOUT))["experiment"]["experiment_id"] == "0"
    upstream_url = up.url
    up.stop()  # nothing listens there any more

    for method, path, kw in (
        ("GET", API_PREFIX + "/experiments/get", {"params": {"experiment_id": "0"}}),
        ("POST", API_PREFIX + "/experiments/create", {"json": {"name": unique("down")}}),
        ("POST", "/ajax-api/2.0/mlflow/experiments/search", {"json": {}}),
        ("GET", ART, {"params": {"path": "0/" + "ab" * 16 + "/artifacts"}}),  # the run is looked up upstream
        ("GET", API_PREFIX + "/runs/get", {"params": {"run_id": "cd" * 16}}),
    ):
        resp = srv.http.request(method, srv.url + path, timeout=TIMEOUT, **kw)
        body = assert_mlflow_error(resp, 502, f"{method} {path} with the upstream down")
        assert set(body) >= {"error_code", "message"}, body

    ready = requests.get(srv.url + "/ready", timeout=TIMEOUT)
    assert ready.status_code == 503, ready.text
    assert upstream_url in ready.text or "upstream" in ready.text.lower(), (
        f"/ready does not name the upstream: {ready.text[:500]}")
    status, flat, text = health_report(srv)
    reachable = reachability(flat)
    assert reachable and not any(reachable), text
    assert status == 503, text
    assert upstream_url in text, f"/health/mlflow does not name the upstream: {text}"
    # Liveness and the local APIs do not depend on the upstream.
    assert requests.get(srv.url + "/health", timeout=TIMEOUT).text == "OK"
    assert requests.get(srv.url + "/live", timeout=TIMEOUT).status_code == 200
    assert srv.http.get(srv.url + "/api/v1/whoami", timeout=TIMEOUT).status_code == 200


def test_upstream_that_was_never_there_is_502_not_a_hang(tmp_path_factory):
    dead = f"http://127.0.0.1:{free_port()}"
    srv = ServerProcess("gateway", tmp_path_factory.mktemp("gw-dead"), ["--upstream-connect-timeout", "2"],
                        upstream=dead)
    try:
        srv.start()
    except BaseException:
        # Refusing to start with an unreachable upstream is also allowed (architecture.md section 2),
        # as long as the log names it.
        assert dead in srv.log_text() or "upstream" in srv.log_text().lower(), srv.log_text()
        return
    try:
        resp = srv.http.get(srv.url + API_PREFIX + "/experiments/get", params={"experiment_id": "0"}, timeout=TIMEOUT)
        assert_mlflow_error(resp, 502, "experiments/get with no upstream")
        ready = requests.get(srv.url + "/ready", timeout=TIMEOUT)
        assert ready.status_code == 503 and (dead in ready.text or "upstream" in ready.text.lower()), ready.text
    finally:
        srv.stop_gracefully_or_fail()


def test_slow_upstream_is_504_json(doubled_gateway):
    srv, up = doubled_gateway("--upstream-timeout", "1")
    up.on(API_PREFIX + "/experiments/get", delay=8, json={"experiment": {"experiment_id": "0"}})
    up.on(API_PREFIX + "/experiments/create", delay=8, json={"experiment_id": "1"})
    t0 = time.monotonic()
    resp = srv.http.get(srv.url + API_PREFIX + "/experiments/get", params={"experiment_id": "0"}, timeout=TIMEOUT)
    assert_mlflow_error(resp, 504, "experiments/get against an upstream that answers after 8 s")
    assert time.monotonic() - t0 < 7.5, "the gateway waited for the slow upstream instead of timing out"
    resp = srv.http.post(srv.url + API_PREFIX + "/experiments/create", json={"name": unique("slow")}, timeout=TIMEOUT)
    assert_mlflow_error(resp, 504, "experiments/create against a slow upstream")
    # The gateway is fine afterwards, and answers the next request from a healthy upstream.
    up.reset()
    assert ok(srv.http.get(srv.url + API_PREFIX + "/experiments/get", params={"experiment_id": "0"},
                           timeout=TIMEOUT))["experiment"]["experiment_id"] == "0"
