"""Wire-level behaviour with `requests`, http.client and raw sockets (no client-side path normalisation)."""

from __future__ import annotations

import http.client
import json
import select
import socket
import sys

import pytest
import requests

from itest_helpers import (
    API_PREFIX,
    assert_error,
    auth_line,
    raw_exchange,
    raw_get,
    read_response,
    unique,
)

T0 = 1_700_000_000_000
JSON_CODES = ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


def strict_json(text: str):
    """json.loads that refuses the non-standard NaN/Infinity literals."""
    def bad_constant(name):
        raise ValueError(f"non-standard JSON literal {name}")
    return json.loads(text, parse_constant=bad_constant)


def post_raw_body(server, path: str, body: bytes, content_type: str = "application/json") -> requests.Response:
    return server.http.post(server.url + API_PREFIX + path, data=body, headers={"Content-Type": content_type},
                            timeout=30)


def assert_no_experiment(api, name: str) -> None:
    resp = api.get("/experiments/get-by-name", {"experiment_name": name})
    assert resp.status_code == 404, f"experiment {name!r} exists although its create was rejected: {resp.text[:300]}"


def assert_nothing_logged(api, run_id: str, metric_keys=(), param_keys=(), tag_keys=()) -> None:
    data = api.run_data(run_id)
    assert not set(metric_keys) & set(data["metrics"]), "metrics were written by a rejected request"
    assert not set(param_keys) & set(data["params"]), "params were written by a rejected request"
    assert not set(tag_keys) & set(data["tags"]), "tags were written by a rejected request"
    for key in [k for k in list(metric_keys)[:3] + list(metric_keys)[-3:] if len(k) <= 250]:
        assert api.metric_history(run_id, key) == [], f"history of {key!r} written by a rejected request"


# --------------------------------------------------------------------------------------------------
# Non-RPC routes
# --------------------------------------------------------------------------------------------------


def test_health_is_200_ok(server):
    r = requests.get(server.url + "/health", timeout=10)
    assert r.status_code == 200
    assert r.text == "OK"


def test_version_is_plain_text(server):
    r = requests.get(server.url + "/version", timeout=10)
    assert r.status_code == 200
    assert r.text.strip()
    assert "{" not in r.text


@pytest.mark.hokusai_only
@pytest.mark.parametrize("path", ["/live", "/ready"])
def test_live_and_ready(server, path):
    r = requests.get(server.url + path, timeout=10)
    assert r.status_code == 200, r.text


@pytest.mark.hokusai_only
def test_access_log_names_each_request_path_exactly(fresh_server):
    srv = fresh_server("hokusai")
    exp_id = srv.api().create_experiment()
    run_id = srv.api().ok(srv.api().post("/runs/create", {"experiment_id": exp_id}))["run"]["info"]["run_id"]
    artifact = f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/a.txt"
    assert srv.http.put(srv.url + artifact, data=b"a", timeout=10).status_code == 200
    assert requests.get(srv.url + "/health", timeout=10).status_code == 200
    assert srv.stop() == 0  # flushes the log
    lines = srv.log_text(limit=10**6).splitlines()
    for method, path in (("POST", API_PREFIX + "/experiments/create"), ("POST", API_PREFIX + "/runs/create"),
                         ("PUT", artifact), ("GET", "/health")):
        assert any(f" {method} {path} 200" in line for line in lines), (
            f"no access-log line for {method} {path}:\n" + "\n".join(repr(ln) for ln in lines[-8:]))


@pytest.mark.hokusai_only
def test_prometheus_metrics(server):
    requests.get(server.url + "/health", timeout=10)
    server.http.get(server.url + API_PREFIX + "/experiments/get", params={"experiment_id": "0"}, timeout=10)
    r = requests.get(server.url + "/metrics", timeout=10)  # public: no key
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    assert "hokusai_http_requests_total" in r.text
    # Prometheus exposition format: every sample line is "<name>[{labels}] <number>".
    samples = [ln for ln in r.text.splitlines() if ln and not ln.startswith("#")]
    assert samples
    for line in samples:
        value = line.rsplit(" ", 1)[-1]
        float(value)


def _store_counts(server):
    text = requests.get(server.url + "/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("hokusai_store_writes_total", "hokusai_store_write_transactions_total"):
            values[name] = int(value)
    assert len(values) == 2, text
    return values["hokusai_store_writes_total"], values["hokusai_store_write_transactions_total"]


@pytest.mark.hokusai_only
@pytest.mark.native_only  # counts the native store's own writes
def test_metrics_count_run_writes_and_their_transactions(server):
    writes, transactions = _store_counts(server)
    created = server.http.post(server.url + API_PREFIX + "/runs/create", json={"experiment_id": "0"},
                               timeout=10)
    assert created.status_code == 200, created.text
    run_id = created.json()["run"]["info"]["run_id"]
    logged = server.http.post(server.url + API_PREFIX + "/runs/log-metric",
                              json={"run_id": run_id, "key": "m", "value": 1, "timestamp": 1},
                              timeout=10)
    assert logged.status_code == 200, logged.text
    deleted = server.http.post(server.url + API_PREFIX + "/runs/delete", json={"run_id": run_id},
                               timeout=10)
    assert deleted.status_code == 200, deleted.text  # not a run write: its own transaction
    refused = server.http.post(server.url + API_PREFIX + "/runs/log-metric",
                               json={"run_id": run_id, "key": "m", "value": 2, "timestamp": 2},
                               timeout=10)
    assert refused.status_code == 400, refused.text  # the store refuses a deleted run's write
    after_writes, after_transactions = _store_counts(server)
    # One after another, each run write is a transaction of its own; the refused one counts too.
    assert after_writes - writes == 3
    assert after_transactions - transactions == 3


# --------------------------------------------------------------------------------------------------
# Routing: 404s, path spellings, canonical-path refusals
# --------------------------------------------------------------------------------------------------

UNKNOWN_ROUTES = [
    ("GET", "/api/2.0/mlflow/no-such-endpoint"),
    ("POST", "/api/2.0/mlflow/experiments/list"),
    ("GET", "/api/2.0/mlflow/experiments/get/extra"),
    ("GET", "/no/such/page"),
    ("POST", "/api/9.0/mlflow/runs/create"),
]


@pytest.mark.parametrize("method,path", UNKNOWN_ROUTES)
def test_unknown_route_is_404_without_json(server, method, path):
    r = server.http.request(method, server.url + path, json={} if method == "POST" else None, timeout=10)
    assert r.status_code == 404
    try:
        body = r.json()
    except ValueError:
        body = None
    assert not isinstance(body, dict), f"a JSON 404 would read as a missing entity, not a missing endpoint: {r.text!r}"


@pytest.mark.hokusai_only
@pytest.mark.parametrize("method,path", UNKNOWN_ROUTES)
def test_unknown_route_is_404_with_empty_body(server, method, path):
    r = server.http.request(method, server.url + path, json={} if method == "POST" else None, timeout=10)
    assert r.status_code == 404
    assert r.content == b""


def test_unknown_endpoint_maps_to_endpoint_not_found_in_client(server):
    from mlflow.exceptions import MlflowException
    from mlflow.utils.rest_utils import MlflowHostCreds, call_endpoint
    from mlflow.protos.service_pb2 import GetExperiment

    creds = MlflowHostCreds(server.url, token=server.admin_key)
    with pytest.raises(MlflowException) as excinfo:
        call_endpoint(creds, "/api/2.0/mlflow/no-such-endpoint", "GET", json.dumps({"experiment_id": "0"}),
                      GetExperiment.Response())
    assert excinfo.value.error_code == "ENDPOINT_NOT_FOUND"


def test_missing_entities_are_json_404_resource_does_not_exist(api):
    assert_error(api.get("/experiments/get", {"experiment_id": "987654321"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.get("/experiments/get-by-name", {"experiment_name": unique("nope")}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.get("/runs/get", {"run_id": "0123456789abcdef0123456789abcdef"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.post("/runs/log-metric", {"run_id": "0123456789abcdef0123456789abcdef", "key": "m",
                                                "value": 1.0, "timestamp": T0}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_api_and_ajax_api_reach_the_same_handler(server):
    a = server.http.get(server.url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, timeout=10)
    b = server.http.get(server.url + "/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": "0"},
                        timeout=10)
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()
    assert a.json()["experiment"]["name"] == "Default"
    name = unique("via-ajax")
    c = server.http.post(server.url + "/ajax-api/2.0/mlflow/experiments/create", json={"name": name}, timeout=10)
    assert c.status_code == 200, c.text
    d = server.http.get(server.url + "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name},
                        timeout=10)
    assert d.json()["experiment"]["experiment_id"] == c.json()["experiment_id"]


MOUNT_SPELLINGS = [
    "/api/2.0/mlflow",
    "/ajax-api/2.0/mlflow",
    "/mlflow/api/2.0/mlflow",
    "/api/mlflow/api/2.0/mlflow",
    "/mlflow/ajax-api/2.0/mlflow",
    "/api/mlflow/ajax-api/2.0/mlflow",
]


@pytest.mark.hokusai_only
def test_every_mount_spelling_returns_identical_json(server):
    bodies = {}
    for prefix in MOUNT_SPELLINGS:
        resp = raw_get(server.port, prefix + "/experiments/get?experiment_id=0")
        assert resp.status == 200, (prefix, resp.status, resp.body[:300])
        bodies[prefix] = resp.json()
    reference = bodies["/api/2.0/mlflow"]
    assert reference["experiment"]["experiment_id"] == "0"
    for prefix, body in bodies.items():
        assert body == reference, prefix


@pytest.mark.hokusai_only
@pytest.mark.parametrize("prefix", MOUNT_SPELLINGS[2:])
def test_mount_spellings_serve_writes_too(server, api, prefix):
    name = unique("mounted")
    r = server.http.post(server.url + prefix + "/experiments/create", json={"name": name}, timeout=10)
    assert r.status_code == 200, r.text
    got = api.ok(api.get("/experiments/get-by-name", {"experiment_name": name}))
    assert got["experiment"]["experiment_id"] == r.json()["experiment_id"]
    missing = server.http.get(server.url + prefix + "/runs/get", params={"run_id": "0" * 32}, timeout=10)
    assert_error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    unknown = server.http.get(server.url + prefix + "/no-such-endpoint", timeout=10)
    assert unknown.status_code == 404 and unknown.content == b""


AMBIGUOUS_TARGETS = [
    "//api/2.0/mlflow/experiments/get?experiment_id=0",
    "/api/2.0//mlflow/experiments/get?experiment_id=0",
    "/api/2.0/mlflow//experiments/get?experiment_id=0",
    "/api/2.0/mlflow/experiments%2Fget?experiment_id=0",
    "/api/2.0/mlflow/experiments%2fget?experiment_id=0",
    "/api%2F2.0/mlflow/experiments/get?experiment_id=0",
    "/api/2.0/mlflow/./experiments/get?experiment_id=0",
    "/./api/2.0/mlflow/experiments/get?experiment_id=0",
    "/api/2.0/mlflow/../mlflow/experiments/get?experiment_id=0",
    "/api/2.0/mlflow/experiments/../experiments/get?experiment_id=0",
    "/api/2.0/mlflow/%2e%2e/mlflow/experiments/get?experiment_id=0",
    "/api/2.0/mlflow/%2E%2E/mlflow/experiments/get?experiment_id=0",
    "/api/2.0/mlflow/%2e/experiments/get?experiment_id=0",
    "/api/2.0/mlflow/.%2e/mlflow/experiments/get?experiment_id=0",
    "/api/2.0/mlflow\\experiments/get?experiment_id=0",
    "/api/2.0/mlflow/experiments%5Cget?experiment_id=0",
    "/api/2.0/mlflow/experiments/get;x=1?experiment_id=0",
    "/api/2.0/mlflow/experiments;/get?experiment_id=0",
    "/api/2.0/mlflow/experiments/get%3Bx?experiment_id=0",
    "/api/2.0/mlflow/experiments/get%00?experiment_id=0",
    "/api/2.0/mlflow/experiments/get%25?experiment_id=0",
    "/api/2.0/mlflow/experiments/get%zz?experiment_id=0",
    "/mlflow//api/2.0/mlflow/experiments/get?experiment_id=0",
    "/mlflow/../api/2.0/mlflow/experiments/get?experiment_id=0",
    "/ajax-api/2.0/mlflow/./experiments/get?experiment_id=0",
]


@pytest.mark.hokusai_only
@pytest.mark.parametrize("request_target", AMBIGUOUS_TARGETS)
def test_ambiguous_paths_are_refused_with_400_json(server, request_target):
    resp = raw_get(server.port, request_target)
    assert resp.status == 400, f"{request_target!r} -> {resp.status} {resp.body[:300]!r}"
    assert (resp.header("content-type") or "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body.get("error_code") in JSON_CODES, body
    assert isinstance(body.get("message"), str) and body["message"], body
    # And the server is still fine.
    assert requests.get(server.url + "/health", timeout=10).text == "OK"


def test_plain_paths_with_encoded_ordinary_characters_still_route(server):
    # %65 is "e": an encoded ordinary character decodes once and routes normally.
    resp = raw_get(server.port, "/api/2.0/mlflow/%65xperiments/get?experiment_id=0")
    assert resp.status == 200, (resp.status, resp.body[:300])
    assert resp.json()["experiment"]["experiment_id"] == "0"


# --------------------------------------------------------------------------------------------------
# Request bodies: content type, malformed JSON, size, depth
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{bad", b'{"name": "unterminated', b'{"name": "x",}', b"\xff\xfe\x00"],
                         ids=["garbage", "truncated", "trailing-comma", "not-utf8"])
def test_malformed_json_is_400(server, api, body):
    r = post_raw_body(server, "/experiments/create", body)
    assert_error(r, 400, JSON_CODES)


def test_trailing_garbage_after_json_is_400(server, api):
    name = unique("trailing")
    r = post_raw_body(server, "/experiments/create", json.dumps({"name": name}).encode() + b" trailing")
    assert_error(r, 400, JSON_CODES)
    assert_no_experiment(api, name)


@pytest.mark.hokusai_only
@pytest.mark.parametrize("body", [b"[1, 2]", b'"a string"', b"42", b"null"])
def test_non_object_json_body_is_400(server, body):
    # The real MLflow server answers 500 (HTML) here.
    assert_error(post_raw_body(server, "/experiments/create", body), 400, JSON_CODES)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_on_post_is_400(server, api, ctype):
    name = unique("ctype")
    r = post_raw_body(server, "/experiments/create", json.dumps({"name": name}).encode(), content_type=ctype)
    assert_error(r, 400, JSON_CODES)
    assert_no_experiment(api, name)


def test_json_content_type_with_charset_is_accepted(server, api):
    name = unique("charset")
    r = post_raw_body(server, "/experiments/create", json.dumps({"name": name}).encode(),
                      content_type="application/json; charset=utf-8")
    assert r.status_code == 200, r.text
    assert api.ok(api.get("/experiments/get-by-name", {"experiment_name": name}))["experiment"]["name"] == name


def test_unknown_fields_are_ignored(api):
    name = unique("unknown-field")
    r = api.post("/experiments/create", {"name": name, "not_a_field": {"nested": [1, 2, 3]}})
    assert r.status_code == 200, r.text
    r2 = api.get("/experiments/get", {"experiment_id": r.json()["experiment_id"], "no_such_param": "x"})
    assert r2.status_code == 200 and r2.json()["experiment"]["name"] == name


def _send_large_body(port: int, head: bytes, body_chunks, timeout: float = 30.0):
    """Sends head then body chunks, stopping early if the server answers; returns the response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(head)
        for chunk in body_chunks:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server has answered (or closed) already
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            return read_response(sock, timeout=timeout)
        except (ConnectionResetError, BrokenPipeError) as exc:
            pytest.fail(f"connection reset without a response: {exc!r}")
    finally:
        sock.close()


@pytest.mark.hokusai_only
def test_body_over_10_mib_is_413_json(server, api):
    size = 10 * 1024 * 1024 + 4096
    name = unique("huge")
    prefix = json.dumps({"name": name, "pad": ""}).encode()[:-2]  # ends with the pad's opening quote
    payload = prefix + b"a" * (size - len(prefix) - 2) + b'"}'
    head = (f"POST {API_PREFIX}/experiments/create HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth_line(server.port)}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    chunks = (payload[i:i + 65536] for i in range(0, len(payload), 65536))
    resp = _send_large_body(server.port, head, chunks)
    assert resp.status == 413, (resp.status, resp.body[:300])
    body = resp.json()
    assert body.get("error_code") and body.get("message"), body
    assert_no_experiment(api, name)
    assert requests.get(server.url + "/health", timeout=10).text == "OK"


@pytest.mark.hokusai_only
def test_chunked_body_over_10_mib_is_413_json(server, api):
    name = unique("huge-chunked")
    head = (f"POST {API_PREFIX}/experiments/create HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth_line(server.port)}"
            f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    first = json.dumps({"name": name, "pad": ""}).encode()[:-2]  # ends with the pad's opening quote

    def chunks():
        yield b"%x\r\n%s\r\n" % (len(first), first)
        block = b"a" * 65536
        for _ in range(11 * 16 + 1):  # > 11 MiB
            yield b"%x\r\n%s\r\n" % (len(block), block)
        yield b'2\r\n"}\r\n0\r\n\r\n'

    resp = _send_large_body(server.port, head, chunks())
    assert resp.status == 413, (resp.status, resp.body[:300])
    assert resp.json().get("error_code")
    assert_no_experiment(api, name)


def _nested(depth: int, kind: str):
    value = 1
    for _ in range(depth):
        value = {"a": value} if kind == "object" else [value]
    return value


@pytest.mark.hokusai_only
@pytest.mark.parametrize("kind", ["object", "array"])
def test_json_nested_deeper_than_32_is_400(server, api, kind):
    name = unique("deep")
    body = {"name": name, "extra": _nested(40, kind)}
    assert_error(api.post("/experiments/create", body), 400, JSON_CODES)
    assert_no_experiment(api, name)
    very_deep = b'{"name": "x", "extra": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    assert_error(post_raw_body(server, "/experiments/create", very_deep), 400, JSON_CODES)


def test_moderately_nested_unknown_field_is_fine(api):
    name = unique("shallow")
    r = api.post("/experiments/create", {"name": name, "extra": _nested(8, "object")})
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------------------------------
# Field validation
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def run_id(api):
    return api.create_run("0", start_time=T0)


WRONG_TYPES = [
    ("/experiments/create", {"name": 123}, "name"),
    ("/experiments/create", {"name": ["a"]}, "name"),
    ("/runs/log-metric", {"key": "m", "value": "abc", "timestamp": T0}, "value"),
    ("/runs/log-metric", {"key": "m", "value": 1.0, "timestamp": "x"}, "timestamp"),
    ("/runs/log-metric", {"key": "m", "value": 1.0, "timestamp": T0, "step": "abc"}, "step"),
    ("/runs/log-parameter", {"key": "p", "value": 5}, "value"),
    ("/runs/set-tag", {"key": 7, "value": "v"}, "key"),
    ("/runs/create", {"experiment_id": "0", "start_time": "soon"}, "start_time"),
    ("/runs/search", {"experiment_ids": ["0"], "max_results": "many"}, "max_results"),
]


@pytest.mark.parametrize("path,body,field", WRONG_TYPES, ids=[f"{p}:{f}" for p, _, f in WRONG_TYPES])
def test_known_field_with_wrong_type_is_400_invalid_parameter_value(api, run_id, path, body, field):
    body = dict(body)
    if path.startswith("/runs/") and path not in ("/runs/create", "/runs/search"):
        body["run_id"] = run_id
    assert_error(api.post(path, body), 400, "INVALID_PARAMETER_VALUE")
    if path.startswith("/runs/log") or path == "/runs/set-tag":
        data = api.run_data(run_id)
        assert data["metrics"] == {} and data["params"] == {}
        assert set(data["tags"]) <= {"mlflow.runName"}


@pytest.mark.hokusai_only
@pytest.mark.parametrize("value", [{}, [1.0], "1.0abc"])
def test_metric_value_of_wrong_json_type_is_400(api, run_id, value):
    # The real MLflow server answers 500 for an object here.
    body = {"run_id": run_id, "key": "m", "value": value, "timestamp": T0}
    assert_error(api.post("/runs/log-metric", body), 400, "INVALID_PARAMETER_VALUE")
    assert api.metric_history(run_id, "m") == []


def test_non_finite_values_travel_as_strings(api, run_id):
    for value in ("NaN", "Infinity", "-Infinity"):
        r = api.post("/runs/log-metric", {"run_id": run_id, "key": f"v{value}", "value": value, "timestamp": T0})
        assert r.status_code == 200, r.text
    raw = api.get("/runs/get", {"run_id": run_id})
    data = strict_json(raw.text)["run"]["data"]  # bare NaN/Infinity tokens would not be JSON
    metrics = {m["key"]: m["value"] for m in data["metrics"]}
    assert metrics["vNaN"] == "NaN"
    # Stored as +/-DBL_MAX, as MLflow's SQL store does (docs/decisions/0003-metric-infinity-and-nan.md).
    assert metrics["vInfinity"] == sys.float_info.max
    assert metrics["v-Infinity"] == -sys.float_info.max
    history = strict_json(api.get("/metrics/get-history", {"run_id": run_id, "metric_key": "vNaN",
                                                          "max_results": 10}).text)
    assert [m["value"] for m in history["metrics"]] == ["NaN"]


def test_int64_fields_are_json_numbers_and_ids_are_strings(api):
    run_id = api.create_run("0", start_time=T0 + 123)
    api.ok(api.post("/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.5, "timestamp": T0 + 7,
                                          "step": 3}))
    run = api.get_run(run_id)
    assert run["info"]["start_time"] == T0 + 123 and isinstance(run["info"]["start_time"], int)
    assert isinstance(run["info"]["experiment_id"], str)
    assert run["info"]["status"] == "RUNNING"
    assert run["info"]["lifecycle_stage"] == "active"
    [metric] = run["data"]["metrics"]
    # Extra optional fields (dataset_name, model_id, ...) may be present; these four must be exact.
    assert {k: metric.get(k) for k in ("key", "value", "timestamp", "step")} == {
        "key": "m", "value": 1.5, "timestamp": T0 + 7, "step": 3}
    assert all(isinstance(metric[k], int) for k in ("timestamp", "step"))
    exp = api.ok(api.get("/experiments/get", {"experiment_id": "0"}))["experiment"]
    assert exp["experiment_id"] == "0"
    assert isinstance(exp["creation_time"], int) and isinstance(exp["last_update_time"], int)
    assert exp["lifecycle_stage"] == "active"


MISSING_REQUIRED = [
    ("POST", "/experiments/create", {}, "name"),
    ("GET", "/experiments/get", {}, "experiment_id"),
    ("GET", "/experiments/get-by-name", {}, "experiment_name"),
    ("GET", "/runs/get", {}, "run_id"),
    ("POST", "/runs/log-metric", {"RUN": 1, "value": 1.0, "timestamp": T0}, "key"),
    ("POST", "/runs/log-metric", {"RUN": 1, "key": "m", "timestamp": T0}, "value"),
    ("POST", "/runs/log-metric", {"RUN": 1, "key": "m", "value": 1.0}, "timestamp"),
    ("POST", "/runs/log-metric", {"RUN": 1, "key": "m", "value": None, "timestamp": T0}, "value"),
    ("POST", "/runs/log-parameter", {"RUN": 1, "value": "v"}, "key"),
    ("POST", "/runs/log-batch", {"metrics": []}, "run_id"),
    ("POST", "/runs/delete", {}, "run_id"),
    ("POST", "/experiments/delete", {}, "experiment_id"),
]


@pytest.mark.parametrize("method,path,body,field", MISSING_REQUIRED,
                         ids=[f"{p}:{f}" for _, p, b, f in MISSING_REQUIRED])
def test_missing_required_field(api, run_id, method, path, body, field):
    body = dict(body)
    if body.pop("RUN", None):
        body["run_id"] = run_id
    resp = api.post(path, body) if method == "POST" else api.get(path, body)
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE",
                 message_prefix=f"Missing value for required parameter '{field}'")


LONG_KEY = "k" * 251
OK_KEY = "k" * 250


@pytest.mark.parametrize("path,body", [
    ("/runs/log-metric", {"key": LONG_KEY, "value": 1.0, "timestamp": T0}),
    ("/runs/log-parameter", {"key": LONG_KEY, "value": "v"}),
    ("/runs/set-tag", {"key": LONG_KEY, "value": "v"}),
    ("/runs/log-batch", {"metrics": [{"key": LONG_KEY, "value": 1.0, "timestamp": T0, "step": 0}]}),
    ("/runs/log-batch", {"params": [{"key": LONG_KEY, "value": "v"}]}),
    ("/runs/log-batch", {"tags": [{"key": LONG_KEY, "value": "v"}]}),
], ids=["log-metric", "log-parameter", "set-tag", "batch-metric", "batch-param", "batch-tag"])
def test_key_longer_than_250_is_rejected(api, run_id, path, body):
    assert_error(api.post(path, dict(body, run_id=run_id)), 400, "INVALID_PARAMETER_VALUE")
    assert_nothing_logged(api, run_id, [LONG_KEY], [LONG_KEY], [LONG_KEY])


def test_key_of_exactly_250_is_accepted(api, run_id):
    api.ok(api.post("/runs/log-metric", {"run_id": run_id, "key": OK_KEY, "value": 1.0, "timestamp": T0}))
    api.ok(api.post("/runs/log-parameter", {"run_id": run_id, "key": OK_KEY, "value": "v"}))
    api.ok(api.post("/runs/set-tag", {"run_id": run_id, "key": OK_KEY, "value": "v"}))
    data = api.run_data(run_id)
    assert OK_KEY in data["metrics"] and data["params"][OK_KEY] == "v" and data["tags"][OK_KEY] == "v"


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "bad\nkey", "semi;colon", "a/./b"])
def test_invalid_key_names_are_rejected(api, run_id, key):
    assert_error(api.post("/runs/log-parameter", {"run_id": run_id, "key": key, "value": "v"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert api.run_data(run_id)["params"] == {}


def test_experiment_name_over_500_is_rejected(api):
    long_name = "n" * 490 + unique("x")[:11]
    assert len(long_name) == 501
    assert_error(api.post("/experiments/create", {"name": long_name}), 400, "INVALID_PARAMETER_VALUE")
    assert_no_experiment(api, long_name)
    ok_name = long_name[:500]
    r = api.post("/experiments/create", {"name": ok_name})
    assert r.status_code == 200, r.text


def test_empty_experiment_name_is_rejected(api):
    assert_error(api.post("/experiments/create", {"name": ""}), 400, "INVALID_PARAMETER_VALUE")


# --------------------------------------------------------------------------------------------------
# log-batch limits and atomicity
# --------------------------------------------------------------------------------------------------


def _metrics(prefix: str, n: int):
    return [{"key": f"{prefix}{i}", "value": float(i), "timestamp": T0 + i, "step": i} for i in range(n)]


@pytest.mark.parametrize("field,items,entity", [
    ("metrics", _metrics("over", 1001), "metrics"),
    ("params", [{"key": f"p{i}", "value": str(i)} for i in range(101)], "params"),
    ("tags", [{"key": f"t{i}", "value": str(i)} for i in range(101)], "tags"),
], ids=["1001-metrics", "101-params", "101-tags"])
def test_log_batch_over_count_limits_writes_nothing(api, run_id, field, items, entity):
    resp = api.post("/runs/log-batch", {"run_id": run_id, field: items})
    body = assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert "at most" in body["message"] and entity in body["message"], body["message"]
    keys = [i["key"] for i in items]
    assert_nothing_logged(api, run_id,
                          keys if field == "metrics" else (),
                          keys if field == "params" else (),
                          keys if field == "tags" else ())


def test_log_batch_over_total_entity_limit_writes_nothing(api, run_id):
    metrics = _metrics("tot", 950)
    params = [{"key": f"tp{i}", "value": "1"} for i in range(60)]
    assert_error(api.post("/runs/log-batch", {"run_id": run_id, "metrics": metrics, "params": params}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_nothing_logged(api, run_id, [m["key"] for m in metrics], [p["key"] for p in params])


def test_log_batch_at_the_limits_is_accepted(api, run_id):
    metrics = _metrics("lim", 1000)
    api.ok(api.post("/runs/log-batch", {"run_id": run_id, "metrics": metrics}))
    api.ok(api.post("/runs/log-batch", {
        "run_id": run_id,
        "params": [{"key": f"p{i}", "value": str(i)} for i in range(100)],
        "tags": [{"key": f"t{i}", "value": str(i)} for i in range(100)],
    }))
    data = api.run_data(run_id)
    assert len(data["metrics"]) == 1000 and len(data["params"]) == 100
    assert {f"t{i}" for i in range(100)} <= set(data["tags"])
    assert [(p["value"], p["step"]) for p in api.metric_history(run_id, "lim999")] == [(999.0, 999)]


def test_log_batch_is_atomic_when_one_key_is_invalid(api, run_id):
    metrics = _metrics("good", 999) + [{"key": LONG_KEY, "value": 1.0, "timestamp": T0, "step": 0}]
    assert_error(api.post("/runs/log-batch", {"run_id": run_id, "metrics": metrics}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_nothing_logged(api, run_id, [m["key"] for m in metrics])


def test_log_batch_is_atomic_when_a_param_conflicts(api, run_id):
    api.ok(api.post("/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}))
    resp = api.post("/runs/log-batch", {
        "run_id": run_id,
        "metrics": _metrics("conf", 10),
        "params": [{"key": "fresh", "value": "x"}, {"key": "p", "value": "2"}],
        "tags": [{"key": "conf-tag", "value": "x"}],
    })
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert_nothing_logged(api, run_id, [f"conf{i}" for i in range(10)], ["fresh"], ["conf-tag"])
    assert api.run_data(run_id)["params"] == {"p": "1"}


def test_log_batch_duplicate_param_keys_rejected(api, run_id):
    resp = api.post("/runs/log-batch", {"run_id": run_id, "metrics": _metrics("dup", 3),
                                        "params": [{"key": "q", "value": "1"}, {"key": "q", "value": "2"}]})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert_nothing_logged(api, run_id, ["dup0", "dup1", "dup2"], ["q"])


@pytest.mark.hokusai_only
@pytest.mark.parametrize("bad", [
    {"key": "bad", "value": "abc", "timestamp": T0, "step": 0},
    {"key": "bad", "value": 1.0, "timestamp": "x", "step": 0},
    {"key": "bad", "value": 1.0, "timestamp": T0, "step": "y"},
    {"value": 1.0, "timestamp": T0, "step": 0},
], ids=["value", "timestamp", "step", "no-key"])
def test_log_batch_is_atomic_when_one_metric_has_a_bad_field(api, run_id, bad):
    # The real MLflow server accepts value "abc" inside a batch and stores 0.0 at timestamp 0.
    metrics = _metrics("ok", 999) + [bad]
    assert_error(api.post("/runs/log-batch", {"run_id": run_id, "metrics": metrics}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_nothing_logged(api, run_id, [m["key"] for m in metrics[:-1]] + ["bad"])


def test_log_batch_to_missing_run_is_404(api):
    resp = api.post("/runs/log-batch", {"run_id": "f" * 32, "metrics": _metrics("x", 2)})
    assert_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")


# --------------------------------------------------------------------------------------------------
# Connection handling
# --------------------------------------------------------------------------------------------------


@pytest.mark.hokusai_only
@pytest.mark.parametrize("shape", ["one-big-header", "many-headers"])
def test_header_block_over_16_kib_is_refused_and_closed(server, shape):
    if shape == "one-big-header":
        extra = b"X-Big: " + b"a" * (17 * 1024) + b"\r\n"
    else:
        extra = b"".join(b"X-H%02d: %s\r\n" % (i, b"b" * 1000) for i in range(20))
    request = (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n")
    resp = raw_exchange(server.port, request, expect_close=True)
    assert resp.status in (431, 400), (resp.status, resp.error, resp.raw[:300])
    assert resp.closed, "connection must be closed after an oversized header block"
    assert requests.get(server.url + "/health", timeout=10).text == "OK"


@pytest.mark.hokusai_only
def test_content_length_with_transfer_encoding_is_400_and_closed(server, api):
    name = unique("smuggle")
    body = json.dumps({"name": name}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    request = (f"POST {API_PREFIX}/experiments/create HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth_line(server.port)}"
               f"Content-Type: application/json\r\nContent-Length: {len(chunked)}\r\n"
               f"Transfer-Encoding: chunked\r\n\r\n").encode() + chunked
    resp = raw_exchange(server.port, request, expect_close=True)
    assert resp.status == 400, (resp.status, resp.raw[:300])
    assert resp.closed, "a request with ambiguous framing must not leave the connection open"
    assert_no_experiment(api, name)
    assert requests.get(server.url + "/health", timeout=10).text == "OK"


def test_keep_alive_serves_several_requests_on_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        conn.request("GET", "/health")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"OK")
        sock = conn.sock
        assert sock is not None, "server closed a keep-alive connection after /health"

        exchanges = [
            ("GET", API_PREFIX + "/experiments/get?experiment_id=0", None, 200),
            ("POST", API_PREFIX + "/experiments/create", json.dumps({"name": unique("ka")}), 200),
            ("GET", API_PREFIX + "/runs/get?run_id=" + "0" * 32, None, 404),  # an error keeps it open too
            ("POST", API_PREFIX + "/experiments/create", json.dumps({}), 400),
            ("GET", "/health", None, 200),
        ]
        for method, path, body, status in exchanges:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            headers.update(server.auth_headers())
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            payload = r.read()
            assert r.status == status, (method, path, r.status, payload[:300])
            assert conn.sock is sock, f"connection was not kept alive after {method} {path}"
    finally:
        conn.close()


def test_server_survives_abrupt_client_disconnects(server):
    for partial in (b"GET /hea", b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(partial)
    r = requests.get(server.url + "/health", timeout=10)
    assert r.status_code == 200 and r.text == "OK"


# --------------------------------------------------------------------------------------------------
# Values on the wire: exact round trips, truncation, run-name rules, GET forms, paging
# --------------------------------------------------------------------------------------------------

EXACT_DOUBLES = [0.1, 1e-300, 5e-324, 123456789.12345679, 2.0 ** 53 + 2, 1.7976931348623157e308, -2.5e-7,
                 0.30000000000000004, 1.0 / 3.0]


def test_doubles_round_trip_exactly(api, run_id):
    for step, value in enumerate(EXACT_DOUBLES):
        api.ok(api.post("/runs/log-metric", {"run_id": run_id, "key": "d", "value": value, "timestamp": T0,
                                              "step": step}))
        api.ok(api.post("/runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": f"b{step}", "value": value, "timestamp": T0, "step": 0}]}))
    history = sorted(api.metric_history(run_id, "d"), key=lambda p: p["step"])
    assert [p["value"] for p in history] == EXACT_DOUBLES  # == on floats: bit-exact except -0.0
    latest = api.run_data(run_id)["metrics"]
    assert [latest[f"b{i}"]["value"] for i in range(len(EXACT_DOUBLES))] == EXACT_DOUBLES


def test_int64_steps_and_timestamps_round_trip_exactly(api, run_id):
    big = 2 ** 53 + 1  # not representable as a double
    api.ok(api.post("/runs/log-metric", {"run_id": run_id, "key": "big", "value": 1.0, "timestamp": big,
                                          "step": big}))
    api.ok(api.post("/runs/log-metric", {"run_id": run_id, "key": "neg", "value": 1.0, "timestamp": T0,
                                          "step": -5}))
    [p] = api.metric_history(run_id, "big")
    assert (p["timestamp"], p["step"]) == (big, big)
    [n] = api.metric_history(run_id, "neg")
    assert n["step"] == -5
    rid = api.create_run("0", start_time=big)
    assert api.get_run(rid)["info"]["start_time"] == big


def test_negative_timestamp_is_rejected(api, run_id):
    assert_error(api.post("/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": -5}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert api.metric_history(run_id, "m") == []


def test_over_long_param_and_tag_values_are_truncated(api, run_id):
    api.ok(api.post("/runs/log-parameter", {"run_id": run_id, "key": "long", "value": "v" * 6001}))
    api.ok(api.post("/runs/log-parameter", {"run_id": run_id, "key": "max", "value": "w" * 6000}))
    api.ok(api.post("/runs/set-tag", {"run_id": run_id, "key": "longtag", "value": "t" * 8001}))
    data = api.run_data(run_id)
    assert data["params"]["long"] == "v" * 6000
    assert data["params"]["max"] == "w" * 6000
    assert data["tags"]["longtag"] == "t" * 8000


def test_create_run_with_conflicting_run_name_and_tag_is_rejected(api):
    resp = api.post("/runs/create", {"experiment_id": "0", "start_time": T0, "run_name": "a",
                                     "tags": [{"key": "mlflow.runName", "value": "b"}]})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    same = api.ok(api.post("/runs/create", {"experiment_id": "0", "start_time": T0, "run_name": "same",
                                            "tags": [{"key": "mlflow.runName", "value": "same"}]}))
    assert same["run"]["info"]["run_name"] == "same"


def test_create_run_in_deleted_experiment_is_rejected(api):
    exp_id = api.create_experiment()
    api.ok(api.post("/experiments/delete", {"experiment_id": exp_id}))
    assert_error(api.post("/runs/create", {"experiment_id": exp_id, "start_time": T0}), 400,
                 "INVALID_PARAMETER_VALUE")


def test_create_run_in_missing_experiment_is_404(api):
    assert_error(api.post("/runs/create", {"experiment_id": "987654321", "start_time": T0}), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_runs_update_returns_the_new_run_info(api, run_id):
    body = api.ok(api.post("/runs/update", {"run_id": run_id, "run_uuid": run_id, "status": "KILLED",
                                            "end_time": T0 + 5, "run_name": "renamed-by-update"}))
    info = body["run_info"]
    assert (info["status"], info["end_time"], info["run_name"]) == ("KILLED", T0 + 5, "renamed-by-update")
    assert api.run_data(run_id)["tags"]["mlflow.runName"] == "renamed-by-update"


def test_experiments_search_via_get_with_repeated_keys(api):
    prefix = unique("getsearch")
    for suffix in "abc":
        api.create_experiment(f"{prefix}-{suffix}")
    params = [("filter", f"name LIKE '{prefix}-%'"), ("order_by", "name DESC"), ("order_by", "experiment_id ASC"),
              ("max_results", "2")]
    first = api.ok(api.get("/experiments/search", params))
    assert [e["name"] for e in first["experiments"]] == [f"{prefix}-c", f"{prefix}-b"]
    assert first.get("next_page_token")
    second = api.ok(api.get("/experiments/search", params + [("page_token", first["next_page_token"])]))
    assert [e["name"] for e in second["experiments"]] == [f"{prefix}-a"]
    assert not second.get("next_page_token")


def test_query_string_values_are_decoded_once(api):
    name = unique("q s+&=%?#/ü")
    exp_id = api.create_experiment(name)
    got = api.ok(api.get("/experiments/get-by-name", {"experiment_name": name}))
    assert got["experiment"]["experiment_id"] == exp_id
    assert got["experiment"]["name"] == name


def test_metric_history_pages_with_tokens(api, run_id):
    metrics = [{"key": "h", "value": float(i), "timestamp": T0 + i, "step": i} for i in range(7)]
    api.ok(api.post("/runs/log-batch", {"run_id": run_id, "metrics": metrics}))
    pages, token = [], None
    for _ in range(10):
        params = {"run_id": run_id, "metric_key": "h", "max_results": 3}
        if token:
            params["page_token"] = token
        body = api.ok(api.get("/metrics/get-history", params))
        pages.append([p["step"] for p in body.get("metrics", [])])
        token = body.get("next_page_token")
        if not token:
            break
    assert [s for page in pages for s in page] == list(range(7))
    assert all(len(page) <= 3 for page in pages)
    assert len(pages) >= 3


def test_invalid_page_tokens_are_400(api):
    assert_error(api.post("/runs/search", {"experiment_ids": ["0"], "page_token": "%%%not base64%%%"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(api.post("/experiments/search", {"page_token": "%%%not base64%%%"}), 400,
                 "INVALID_PARAMETER_VALUE")


@pytest.mark.hokusai_only
def test_client_chosen_artifact_location_is_refused(api):
    # docs/decisions/0001-client-chosen-artifact-location.md
    name = unique("artloc")
    resp = api.post("/experiments/create", {"name": name, "artifact_location": "file:///etc"})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert_no_experiment(api, name)
    ok = api.ok(api.post("/experiments/create", {"name": name}))
    exp = api.ok(api.get("/experiments/get", {"experiment_id": ok["experiment_id"]}))["experiment"]
    assert exp["artifact_location"] == f"mlflow-artifacts:/{ok['experiment_id']}"


# --------------------------------------------------------------------------------------------------
# Bounds (docs/configuration.md "Limits")
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path,body", [
    ("/experiments/search", {"max_results": 50001}),
    ("/runs/search", {"experiment_ids": ["0"], "max_results": 50001}),
], ids=["experiments", "runs"])
def test_search_max_results_over_50000_is_rejected(api, path, body):
    assert_error(api.post(path, body), 400, "INVALID_PARAMETER_VALUE")
    assert api.post(path, dict(body, max_results=50000)).status_code == 200


@pytest.mark.hokusai_only
def test_log_batch_body_over_1_000_000_bytes_is_rejected(api, run_id):
    # MLflow's client never sends more (it chunks); the real server does not enforce it.
    params = [{"key": f"p{i}", "value": "v" * 6000} for i in range(100)]
    tags = [{"key": f"t{i}", "value": "t" * 8000} for i in range(100)]
    assert_error(api.post("/runs/log-batch", {"run_id": run_id, "params": params, "tags": tags}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_nothing_logged(api, run_id, (), [p["key"] for p in params], [t["key"] for t in tags])


@pytest.mark.hokusai_only
def test_metric_history_max_results_over_25000_is_rejected(api, run_id):
    resp = api.get("/metrics/get-history", {"run_id": run_id, "metric_key": "m", "max_results": 25001})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.hokusai_only
def test_filter_string_over_20000_characters_is_rejected(api):
    flt = "params.a = '" + "x" * 20000 + "'"
    assert_error(api.post("/runs/search", {"experiment_ids": ["0"], "filter": flt}), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.hokusai_only
def test_more_than_256_query_parameters_is_rejected(api):
    params = [("experiment_id", "0")] + [(f"x{i}", "1") for i in range(300)]
    assert_error(api.get("/experiments/get", params), 400, JSON_CODES)


# --------------------------------------------------------------------------------------------------
# Mount prefixes as tracking URIs (the stock client appends /api/2.0/... to the URI's path)
# --------------------------------------------------------------------------------------------------


@pytest.mark.hokusai_only
@pytest.mark.parametrize("mount", ["/mlflow", "/api/mlflow"])
def test_client_works_through_builtin_mount_prefixes(server, mount):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=server.url + mount)
    exp_id = client.create_experiment(unique("mounted-client"))
    run = client.create_run(exp_id, start_time=T0, run_name="via-mount")
    client.log_metric(run.info.run_id, "m", 1.0, timestamp=T0, step=1)
    client.set_terminated(run.info.run_id)
    direct = mlflow.MlflowClient(tracking_uri=server.url).get_run(run.info.run_id)
    assert direct.data.metrics == {"m": 1.0}
    assert direct.info.status == "FINISHED"
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [run.info.run_id]


@pytest.mark.hokusai_only
def test_static_prefix_flag_adds_a_mount(fresh_server):
    import mlflow

    srv = fresh_server("hokusai", extra_args=["--static-prefix", "/registry"])
    plain = raw_get(srv.port, "/api/2.0/mlflow/experiments/get?experiment_id=0")
    prefixed = raw_get(srv.port, "/registry/api/2.0/mlflow/experiments/get?experiment_id=0")
    assert plain.status == prefixed.status == 200, (plain.status, prefixed.status)
    assert plain.json() == prefixed.json()
    assert raw_get(srv.port, "/registry/ajax-api/2.0/mlflow/experiments/get?experiment_id=0").status == 200
    assert raw_get(srv.port, "/other/api/2.0/mlflow/experiments/get?experiment_id=0").status == 404
    client = mlflow.MlflowClient(tracking_uri=srv.url + "/registry")
    exp_id = client.create_experiment(unique("static-prefix"))
    assert mlflow.MlflowClient(tracking_uri=srv.url).get_experiment(exp_id).experiment_id == exp_id
