"""Route x scope x path-style authorization matrix (security principles 1, 2 and 13).

The server publishes its live route table (`GET /api/v1/routes`, admin key): every route with the
operation it performs (public, authenticated, read, write, manage, admin) and the resource kind it
touches. This module keeps one request builder per (method, path) of that table, and:

* fails when the live table has a route without a builder (a new route must be added here, with a
  concrete request, before CI passes), when a builder names a route that no longer exists, and when
  a route's declared operation or resource differs from the one recorded here;
* for every write, manage and admin route and every path style the server accepts for it
  (canonical `/api/...`, `/ajax-api/...`, the mount prefixes `/mlflow` and `/api/mlflow`, and both
  mounts with `/ajax-api`): a reader-template key gets 403 PERMISSION_DENIED and nothing changes
  (experiments, runs, metrics, logged models, registered models, versions, aliases, tags,
  permissions, keys and the artifact directory are snapshotted through admin reads and the file
  system before and after); no key and an unknown key get 401 UNAUTHENTICATED, again with no change;
* for every read and authenticated route and every path style: no key gets 401, and a reader key
  is accepted on reads (so the 403s above are about scope, not about a broken key);
* public routes answer without a key;
* with the admin key, every write/manage builder really does what it says (the expected status and
  a changed snapshot on a fresh set of resources), so "nothing changed" above is a meaningful check.

The reader key is sent in a different credential form per path style (Bearer, X-API-Key, Basic
password, `Authorization: ApiKey`), so every form is exercised on every route.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import pytest
import requests

from itest_helpers import HTTP_TIMEOUT_S, Http, ServerProcess, tree_snapshot, unique

pytestmark = pytest.mark.hokusai_only

ROUTES = "/api/v1/routes"
MLFLOW = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
MPU = "/api/2.0/mlflow-artifacts/mpu"
EXP_PERMS = MLFLOW + "/experiments/permissions"
RM_PERMS = MLFLOW + "/registered-models/permissions"

OPERATIONS = ("public", "authenticated", "read", "write", "manage", "admin")
DENIED_TO_READERS = ("write", "manage", "admin")
T0 = 1_700_000_000_000


# --------------------------------------------------------------------------------------------------
# Requests, path styles, credential forms
# --------------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One concrete request: canonical path (no mount prefix), JSON body or raw data, query."""
    method: str
    path: str
    json: dict | None = None
    params: dict | None = None
    data: bytes | None = None
    headers: dict = field(default_factory=dict)

    def describe(self) -> str:
        body = json.dumps(self.json)[:300] if self.json is not None else (
            f"<{len(self.data)} bytes>" if self.data is not None else "")
        query = f" ?{self.params}" if self.params else ""
        return f"{self.method} {self.path}{query} {body}".rstrip()


def _ajax(path: str) -> str | None:
    return "/ajax-api/" + path[len("/api/"):] if path.startswith("/api/") else None


# How the same canonical route is reached (src/http/canonical_path.cpp: the mount prefix `/api/mlflow`
# or `/mlflow` is stripped first, then a leading `/ajax-api/` becomes `/api/`). None: not applicable
# to this path (only /api/... paths have an /ajax-api twin).
STYLES: dict[str, Callable[[str], str | None]] = {
    "api": lambda p: p,
    "ajax-api": _ajax,
    "mlflow-mount": lambda p: "/mlflow" + p,
    "api-mlflow-mount": lambda p: "/api/mlflow" + p,
    "mlflow-mount-ajax": lambda p: "/mlflow" + a if (a := _ajax(p)) else None,
    "api-mlflow-mount-ajax": lambda p: "/api/mlflow" + a if (a := _ajax(p)) else None,
}


def credential_headers(key: str, form: str) -> dict[str, str]:
    if form == "bearer":
        return {"Authorization": f"Bearer {key}"}
    if form == "x-api-key":
        return {"X-API-Key": key}
    if form == "basic":
        token = base64.b64encode(f"authz-user:{key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if form == "apikey-scheme":
        return {"Authorization": f"ApiKey {key}"}
    raise AssertionError(form)


# The credential form the reader key is sent in, per style: every form meets every route.
CREDENTIAL_FORM = {
    "api": "bearer",
    "ajax-api": "x-api-key",
    "mlflow-mount": "basic",
    "api-mlflow-mount": "apikey-scheme",
    "mlflow-mount-ajax": "bearer",
    "api-mlflow-mount-ajax": "x-api-key",
}

# Well-formed (prefix, 40 base62, 6 checksum characters) but not a key this server issued.
UNKNOWN_KEY = "hk_live_" + "A" * 46


def send(url: str, call: Call, style: str = "api", headers: dict[str, str] | None = None) -> requests.Response:
    """Sends `call` in path style `style` with exactly `headers` (no credential unless given)."""
    target = STYLES[style](call.path)
    assert target is not None, f"style {style} does not apply to {call.path}"
    hdrs = dict(call.headers)
    hdrs.update(headers or {})
    kw: dict = {"params": call.params, "headers": hdrs, "timeout": HTTP_TIMEOUT_S, "allow_redirects": False}
    if call.json is not None:
        kw["json"] = call.json
    elif call.data is not None:
        kw["data"] = call.data
    return requests.request(call.method, url + target, **kw)


def body_of(resp: requests.Response):
    try:
        return resp.json()
    except ValueError:
        return resp.text


# --------------------------------------------------------------------------------------------------
# A set of resources to aim at, and a snapshot of everything a write could change
# --------------------------------------------------------------------------------------------------


class Rest:
    """Calls with one key that must succeed."""

    def __init__(self, url: str, key: str):
        self.url = url
        self.http = Http(key)

    def call(self, method: str, path: str, *, json_body=None, params=None, data=None, headers=None,
             expect: int = 200):
        resp = self.http.request(method, self.url + path, json=json_body, params=params, data=data,
                                 headers=headers)
        assert resp.status_code == expect, (
            f"setup {method} {path} {json_body or params or ''} -> {resp.status_code} {resp.text[:500]}")
        return body_of(resp)

    def post(self, path, body, **kw):
        return self.call("POST", MLFLOW + path, json_body=body, **kw)

    def get(self, path, params=None, **kw):
        return self.call("GET", MLFLOW + path, params=params, **kw)

    def upload(self, repo_path: str, data: bytes):
        return self.call("PUT", f"{PROXY}/{repo_path}", data=data,
                         headers={"Content-Type": "application/octet-stream"})


def build_world(url: str, key: str, *, grantee: str, newcomer: str, victim_key_id: str | None = None,
                label: str = "authz") -> SimpleNamespace:
    """Everything the builders aim at, created with `key` (its user becomes the creator):

    an experiment with tags; a deleted experiment; a run with metrics, params, tags, artifacts and a
    dataset input; a deleted run; a finalized logged model with tags, params and an artifact; a
    pending logged model; a registered model with a description, tags, two versions (one from the
    run, one from the logged model), a version tag, an alias and a stage; permission rows for
    `grantee` (READ on the experiment and on the model). `newcomer` has no row (creates aim at it).
    """
    r = Rest(url, key)
    w = SimpleNamespace(grantee=grantee, newcomer=newcomer, victim_key_id=victim_key_id)
    w.exp_name = unique(f"{label}-exp")
    w.exp = r.post("/experiments/create", {"name": w.exp_name})["experiment_id"]
    for k, v in (("team", "blue"), ("doomed", "x")):
        r.post("/experiments/set-experiment-tag", {"experiment_id": w.exp, "key": k, "value": v})
    w.exp_deleted_name = unique(f"{label}-exp-deleted")
    w.exp_deleted = r.post("/experiments/create", {"name": w.exp_deleted_name})["experiment_id"]
    r.post("/experiments/delete", {"experiment_id": w.exp_deleted})

    w.run = r.post("/runs/create", {"experiment_id": w.exp, "run_name": "r1", "start_time": T0})["run"]["info"]["run_id"]
    r.post("/runs/log-batch", {
        "run_id": w.run,
        "metrics": [{"key": "m1", "value": 0.5, "timestamp": T0, "step": 0},
                    {"key": "m1", "value": 0.7, "timestamp": T0 + 1, "step": 1}],
        "params": [{"key": "p1", "value": "v1"}],
        "tags": [{"key": "rt1", "value": "v"}, {"key": "doomed", "value": "x"}],
    })
    r.post("/runs/log-inputs", {"run_id": w.run, "datasets": [{
        "tags": [], "dataset": {"name": "ds", "digest": "d1", "source_type": "local", "source": "{}"}}]})
    w.run_root = f"{w.exp}/{w.run}/artifacts"
    r.upload(f"{w.run_root}/notes.txt", b"notes\n")
    r.upload(f"{w.run_root}/model/MLmodel", b"flavors: {}\n")
    r.upload(f"{w.run_root}/dir/a.txt", b"a\n")
    w.run_deleted = r.post("/runs/create", {"experiment_id": w.exp, "start_time": T0})["run"]["info"]["run_id"]
    r.post("/runs/delete", {"run_id": w.run_deleted})

    w.lm = r.post("/logged-models", {"experiment_id": w.exp, "name": "lm", "source_run_id": w.run})["model"]["info"]["model_id"]
    r.call("PATCH", f"{MLFLOW}/logged-models/{w.lm}/tags",
           json_body={"tags": [{"key": "lt1", "value": "v"}, {"key": "doomed", "value": "x"}]})
    r.post(f"/logged-models/{w.lm}/params", {"params": [{"key": "lp1", "value": "1"}]})
    w.lm_root = f"{w.exp}/models/{w.lm}/artifacts"
    r.upload(f"{w.lm_root}/MLmodel", b"flavors: {}\n")
    r.call("PATCH", f"{MLFLOW}/logged-models/{w.lm}", json_body={"model_id": w.lm, "status": "LOGGED_MODEL_READY"})
    w.lm_pending = r.post("/logged-models", {"experiment_id": w.exp, "name": "lm-pending"})["model"]["info"]["model_id"]

    w.rm = unique(f"{label}-rm")
    r.post("/registered-models/create", {"name": w.rm, "description": "original",
                                         "tags": [{"key": "rmt1", "value": "v"}]})
    r.post("/registered-models/set-tag", {"name": w.rm, "key": "doomed", "value": "x"})
    v1 = r.post("/model-versions/create", {"name": w.rm, "source": f"runs:/{w.run}/model", "run_id": w.run})
    v2 = r.post("/model-versions/create", {"name": w.rm, "source": f"models:/{w.lm}"})
    assert (v1["model_version"]["version"], v2["model_version"]["version"]) == ("1", "2"), (v1, v2)
    for k in ("vt1", "doomed"):
        r.post("/model-versions/set-tag", {"name": w.rm, "version": "1", "key": k, "value": "v"})
    r.post("/registered-models/alias", {"name": w.rm, "alias": "champion", "version": "1"})
    r.post("/model-versions/transition-stage", {"name": w.rm, "version": "1", "stage": "Staging",
                                                "archive_existing_versions": False})

    r.call("POST", EXP_PERMS + "/create",
           json_body={"experiment_id": w.exp, "username": grantee, "permission": "READ"})
    r.call("POST", RM_PERMS + "/create", json_body={"name": w.rm, "username": grantee, "permission": "READ"})
    # The registration event of version 1, when `key` may read events (an admin's); other worlds
    # (test_tenants.py builds one per tenant) only need an id of the right shape: event routes are
    # admin-only, so a tenant's request is refused before the id is looked up.
    resp = r.http.request("GET", url + "/api/v1/events", params={"model_name": w.rm})
    if resp.status_code == 200:
        w.event_id = next(e["event_id"] for e in resp.json()["events"] if e["version"] == "1")
    else:
        assert resp.status_code == 403, f"GET /api/v1/events -> {resp.status_code} {resp.text[:300]}"
        w.event_id = "00000000-0000-4000-8000-000000000000"
    return w


def _get(http: requests.Session, url: str, path: str, params=None):
    resp = http.get(url + path, params=params, timeout=HTTP_TIMEOUT_S)
    return resp.status_code, body_of(resp)


def _post(http: requests.Session, url: str, path: str, body):
    resp = http.post(url + path, json=body, timeout=HTTP_TIMEOUT_S)
    return resp.status_code, body_of(resp)


def snapshot(url: str, key: str, w: SimpleNamespace, artifacts_dir) -> dict:
    """Everything of `w` a write could change, read with `key` (admin, or the creator), plus the
    artifact directory on disk and the key list (without last_used_at)."""
    with Http(key).session() as h:  # one keep-alive connection for the ~35 reads
        return _snapshot(h, url, w, artifacts_dir)


def _snapshot(h: requests.Session, url: str, w: SimpleNamespace, artifacts_dir) -> dict:
    s: dict = {}
    s["experiments"] = _post(h, url, MLFLOW + "/experiments/search", {"max_results": 1000, "view_type": "ALL"})
    for eid in (w.exp, w.exp_deleted):
        s[f"experiment {eid}"] = _get(h, url, MLFLOW + "/experiments/get", {"experiment_id": eid})
    s["runs"] = _post(h, url, MLFLOW + "/runs/search",
                      {"experiment_ids": [w.exp], "run_view_type": "ALL", "max_results": 1000})
    for rid in (w.run, w.run_deleted):
        s[f"run {rid}"] = _get(h, url, MLFLOW + "/runs/get", {"run_id": rid})
        for metric in ("m1", "m-new"):
            s[f"history {rid} {metric}"] = _get(h, url, MLFLOW + "/metrics/get-history",
                                                {"run_id": rid, "metric_key": metric})
    s["logged models"] = _post(h, url, MLFLOW + "/logged-models/search",
                               {"experiment_ids": [w.exp], "max_results": 100})
    for mid in (w.lm, w.lm_pending):
        s[f"logged model {mid}"] = _get(h, url, f"{MLFLOW}/logged-models/{mid}", {"allow_deleted": "true"})
    s["registered models"] = _get(h, url, MLFLOW + "/registered-models/search", {"max_results": 1000})
    s["registered model"] = _get(h, url, MLFLOW + "/registered-models/get", {"name": w.rm})
    s["versions"] = _get(h, url, MLFLOW + "/model-versions/search",
                         {"filter": f"name='{w.rm}'", "max_results": 1000})
    for v in ("1", "2", "3"):
        s[f"version {v}"] = _get(h, url, MLFLOW + "/model-versions/get", {"name": w.rm, "version": v})
    for alias in ("champion", "challenger"):
        s[f"alias {alias}"] = _get(h, url, MLFLOW + "/registered-models/alias", {"name": w.rm, "alias": alias})
    for user in (w.grantee, w.newcomer):
        s[f"experiment permission {user}"] = _get(h, url, EXP_PERMS + "/get",
                                                  {"experiment_id": w.exp, "username": user})
        s[f"model permission {user}"] = _get(h, url, RM_PERMS + "/get", {"name": w.rm, "username": user})
    status, keys = _get(h, url, "/api/v1/keys")
    if status == 200:
        keys = keys if isinstance(keys, list) else keys.get("keys", keys)
        keys = sorted(({k: v for k, v in key_.items() if k != "last_used_at"} for key_ in keys),
                      key=lambda k: str(k.get("key_id")))
    s["keys"] = (status, keys)
    s["artifact files"] = tree_snapshot(artifacts_dir)
    return s


def state_diff(before: dict, after: dict) -> str:
    lines = []
    for k in sorted(set(before) | set(after)):
        if before.get(k) != after.get(k):
            lines.append(f"  {k}:\n    before: {json.dumps(before.get(k), default=str)[:700]}\n"
                         f"    after:  {json.dumps(after.get(k), default=str)[:700]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The builders: one per route of the live table
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builder:
    operation: str          # what the live table must declare
    resource: str           # none, experiment or model
    build: Callable[[SimpleNamespace], Call]
    # With the admin key on a fresh world (write/manage/admin routes): the status, and whether the
    # snapshot must change (False: the route changes nothing a snapshot can see, e.g. a 501).
    admin_status: int = 200
    changes_state: bool = True


def _new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


B: dict[tuple[str, str], Builder] = {}


def route(method: str, path: str, operation: str, resource: str, **kw):
    def register(fn: Callable[[SimpleNamespace], Call]):
        key = (method, path)
        assert key not in B, f"two builders for {key}"
        B[key] = Builder(operation, resource, fn, **kw)
        return fn
    return register


def simple(method: str, path: str, operation: str, resource: str, make: Callable[[SimpleNamespace], dict] | None = None,
           *, query: bool = False, **kw):
    """A builder whose concrete path is the route's path: `make(w)` gives the JSON body (or the query
    for GET and `query=True`)."""
    def build(w):
        args = make(w) if make else None
        if method == "GET" or query:
            return Call(method, path, params=args)
        return Call(method, path, json=args if args is not None else {})
    route(method, path, operation, resource, **kw)(build)


# -- operations (public) ---------------------------------------------------------------------------
for _p in ("/health", "/live", "/ready", "/version", "/api/v1/version", "/metrics"):
    simple("GET", _p, "public", "none")

# -- Hokusai key routes ------------------------------------------------------------------------------
simple("POST", "/api/v1/keys", "authenticated", "none", lambda w: {"name": _new_name("k"), "template": "reader"})
simple("GET", "/api/v1/keys", "authenticated", "none")
route("POST", "/api/v1/keys/validate", "public", "none")(
    lambda w: Call("POST", "/api/v1/keys/validate", json={"api_key": w.reader_key}))
route("GET", "/api/v1/keys/{key_id}", "authenticated", "none")(
    lambda w: Call("GET", f"/api/v1/keys/{w.victim_key_id}"))
route("DELETE", "/api/v1/keys/{key_id}", "authenticated", "none")(
    lambda w: Call("DELETE", f"/api/v1/keys/{w.victim_key_id}"))
route("POST", "/api/v1/keys/{key_id}/rotate", "authenticated", "none")(
    lambda w: Call("POST", f"/api/v1/keys/{w.victim_key_id}/rotate", json={}))
simple("GET", "/api/v1/whoami", "authenticated", "none")
simple("GET", "/api/v1/audit", "admin", "none", changes_state=False)
simple("GET", ROUTES, "admin", "none", changes_state=False)

# -- permissions (MLflow auth app's shape) ---------------------------------------------------------
simple("POST", EXP_PERMS + "/create", "manage", "experiment",
       lambda w: {"experiment_id": w.exp, "username": w.newcomer, "permission": "MANAGE"})
simple("GET", EXP_PERMS + "/get", "manage", "experiment",
       lambda w: {"experiment_id": w.exp, "username": w.grantee}, changes_state=False)
simple("PATCH", EXP_PERMS + "/update", "manage", "experiment",
       lambda w: {"experiment_id": w.exp, "username": w.grantee, "permission": "MANAGE"})
simple("DELETE", EXP_PERMS + "/delete", "manage", "experiment",
       lambda w: {"experiment_id": w.exp, "username": w.grantee})
simple("POST", RM_PERMS + "/create", "manage", "model",
       lambda w: {"name": w.rm, "username": w.newcomer, "permission": "MANAGE"})
simple("GET", RM_PERMS + "/get", "manage", "model",
       lambda w: {"name": w.rm, "username": w.grantee}, changes_state=False)
simple("PATCH", RM_PERMS + "/update", "manage", "model",
       lambda w: {"name": w.rm, "username": w.grantee, "permission": "MANAGE"})
simple("DELETE", RM_PERMS + "/delete", "manage", "model", lambda w: {"name": w.rm, "username": w.grantee})

# -- tracking ----------------------------------------------------------------------------------------
M = MLFLOW
simple("POST", M + "/experiments/create", "write", "experiment", lambda w: {"name": _new_name("authz-created")})
simple("GET", M + "/experiments/get", "read", "experiment", lambda w: {"experiment_id": w.exp})
simple("GET", M + "/experiments/get-by-name", "read", "experiment", lambda w: {"experiment_name": w.exp_name})
simple("POST", M + "/experiments/search", "read", "experiment", lambda w: {"max_results": 10})
simple("GET", M + "/experiments/search", "read", "experiment", lambda w: {"max_results": 10})
simple("POST", M + "/experiments/delete", "manage", "experiment", lambda w: {"experiment_id": w.exp})
simple("POST", M + "/experiments/restore", "manage", "experiment", lambda w: {"experiment_id": w.exp_deleted})
simple("POST", M + "/experiments/update", "write", "experiment",
       lambda w: {"experiment_id": w.exp, "new_name": _new_name("authz-renamed")})
simple("POST", M + "/experiments/set-experiment-tag", "write", "experiment",
       lambda w: {"experiment_id": w.exp, "key": "team", "value": "red"})
simple("POST", M + "/experiments/delete-experiment-tag", "write", "experiment",
       lambda w: {"experiment_id": w.exp, "key": "doomed"})
simple("POST", M + "/runs/create", "write", "experiment", lambda w: {"experiment_id": w.exp, "start_time": T0 + 5})
simple("GET", M + "/runs/get", "read", "experiment", lambda w: {"run_id": w.run})
simple("POST", M + "/runs/update", "write", "experiment",
       lambda w: {"run_id": w.run, "status": "FINISHED", "end_time": T0 + 9, "run_name": "renamed"})
simple("POST", M + "/runs/delete", "manage", "experiment", lambda w: {"run_id": w.run})
simple("POST", M + "/runs/restore", "manage", "experiment", lambda w: {"run_id": w.run_deleted})
simple("POST", M + "/runs/search", "read", "experiment", lambda w: {"experiment_ids": [w.exp]})
simple("POST", M + "/runs/set-tag", "write", "experiment", lambda w: {"run_id": w.run, "key": "rt1", "value": "changed"})
simple("POST", M + "/runs/delete-tag", "write", "experiment", lambda w: {"run_id": w.run, "key": "doomed"})
simple("POST", M + "/runs/log-metric", "write", "experiment",
       lambda w: {"run_id": w.run, "key": "m-new", "value": 9.5, "timestamp": T0 + 7, "step": 7})
simple("POST", M + "/runs/log-parameter", "write", "experiment", lambda w: {"run_id": w.run, "key": "p-new", "value": "x"})
simple("POST", M + "/runs/log-batch", "write", "experiment", lambda w: {
    "run_id": w.run, "metrics": [{"key": "m-new", "value": 1.0, "timestamp": T0 + 8, "step": 8}],
    "params": [{"key": "p-batch", "value": "y"}], "tags": [{"key": "t-batch", "value": "z"}]})
simple("POST", M + "/runs/log-model", "write", "experiment", lambda w: {
    "run_id": w.run, "model_json": json.dumps({"artifact_path": "model", "run_id": w.run,
                                               "utc_time_created": "2024-01-01 00:00:00.000000",
                                               "flavors": {"python_function": {}}})})
simple("POST", M + "/runs/log-inputs", "write", "experiment", lambda w: {
    "run_id": w.run, "datasets": [{"tags": [], "dataset": {
        "name": "ds-new", "digest": "d2", "source_type": "local", "source": "{}"}}]})
simple("POST", M + "/runs/outputs", "write", "experiment",
       lambda w: {"run_id": w.run, "models": [{"model_id": w.lm, "step": 3}]})
simple("GET", M + "/metrics/get-history", "read", "experiment", lambda w: {"run_id": w.run, "metric_key": "m1"})
simple("GET", M + "/metrics/get-history-bulk", "read", "experiment",
       lambda w: {"run_id": [w.run], "metric_key": "m1"})
simple("GET", M + "/metrics/get-history-bulk-interval", "read", "experiment",
       lambda w: {"run_ids": [w.run], "metric_key": "m1"})

# -- logged models -------------------------------------------------------------------------------------
LM = M + "/logged-models"
simple("POST", LM, "write", "experiment", lambda w: {"experiment_id": w.exp, "name": "lm-created"})
simple("POST", LM + "/search", "read", "experiment", lambda w: {"experiment_ids": [w.exp]})
route("GET", LM + "/{model_id}", "read", "experiment")(lambda w: Call("GET", f"{LM}/{w.lm}"))
route("PATCH", LM + "/{model_id}", "write", "experiment")(
    lambda w: Call("PATCH", f"{LM}/{w.lm_pending}", json={"model_id": w.lm_pending, "status": "LOGGED_MODEL_READY"}))
route("DELETE", LM + "/{model_id}", "manage", "experiment")(lambda w: Call("DELETE", f"{LM}/{w.lm}"))
route("PATCH", LM + "/{model_id}/tags", "write", "experiment")(
    lambda w: Call("PATCH", f"{LM}/{w.lm}/tags", json={"tags": [{"key": "lt1", "value": "changed"}]}))
route("DELETE", LM + "/{model_id}/tags/{tag_key*}", "write", "experiment")(
    lambda w: Call("DELETE", f"{LM}/{w.lm}/tags/doomed"))
route("POST", LM + "/{model_id}/params", "write", "experiment")(
    lambda w: Call("POST", f"{LM}/{w.lm}/params", json={"params": [{"key": "lp-new", "value": "2"}]}))
route("GET", LM + "/{model_id}/artifacts/directories", "read", "experiment")(
    lambda w: Call("GET", f"{LM}/{w.lm}/artifacts/directories"))
route("GET", LM + "/{model_id}/artifacts/files", "read", "experiment")(
    lambda w: Call("GET", f"{LM}/{w.lm}/artifacts/files", params={"artifact_file_path": "MLmodel"}))

# -- model registry ----------------------------------------------------------------------------------
RM, MV = M + "/registered-models", M + "/model-versions"
simple("POST", RM + "/create", "write", "model", lambda w: {"name": _new_name("authz-rm-created")})
simple("GET", RM + "/get", "read", "model", lambda w: {"name": w.rm})
simple("POST", RM + "/rename", "write", "model", lambda w: {"name": w.rm, "new_name": _new_name("authz-rm-renamed")})
simple("PATCH", RM + "/update", "write", "model", lambda w: {"name": w.rm, "description": "changed"})
simple("DELETE", RM + "/delete", "manage", "model", lambda w: {"name": w.rm})
simple("GET", RM + "/search", "read", "model", lambda w: {"max_results": 10})
simple("POST", RM + "/get-latest-versions", "read", "model", lambda w: {"name": w.rm})
simple("GET", RM + "/get-latest-versions", "read", "model", lambda w: {"name": w.rm})
simple("POST", RM + "/set-tag", "write", "model", lambda w: {"name": w.rm, "key": "rmt1", "value": "changed"})
simple("DELETE", RM + "/delete-tag", "write", "model", lambda w: {"name": w.rm, "key": "doomed"})
simple("POST", RM + "/alias", "write", "model", lambda w: {"name": w.rm, "alias": "challenger", "version": "2"})
simple("DELETE", RM + "/alias", "write", "model", lambda w: {"name": w.rm, "alias": "champion"})
simple("GET", RM + "/alias", "read", "model", lambda w: {"name": w.rm, "alias": "champion"})
simple("POST", MV + "/create", "write", "model",
       lambda w: {"name": w.rm, "source": f"runs:/{w.run}/model", "run_id": w.run})
simple("GET", MV + "/get", "read", "model", lambda w: {"name": w.rm, "version": "1"})
simple("PATCH", MV + "/update", "write", "model", lambda w: {"name": w.rm, "version": "1", "description": "changed"})
simple("DELETE", MV + "/delete", "manage", "model", lambda w: {"name": w.rm, "version": "2"})
simple("GET", MV + "/search", "read", "model", lambda w: {"filter": f"name='{w.rm}'"})
simple("POST", MV + "/transition-stage", "write", "model",
       lambda w: {"name": w.rm, "version": "2", "stage": "Production", "archive_existing_versions": False})
simple("GET", MV + "/get-download-uri", "read", "model", lambda w: {"name": w.rm, "version": "1"})
simple("POST", MV + "/set-tag", "write", "model", lambda w: {"name": w.rm, "version": "1", "key": "vt1", "value": "changed"})
simple("DELETE", MV + "/delete-tag", "write", "model", lambda w: {"name": w.rm, "version": "1", "key": "doomed"})

# -- the registration API and its events (Hokusai API) ------------------------------------------------
simple("POST", "/api/v1/models/register", "write", "model",
       lambda w: {"model_name": w.rm, "model_type": "matrix", "mlflow_run_id": w.run}, admin_status=201)
simple("POST", "/api/v1/models/baseline", "write", "model",
       lambda w: {"model_name": w.rm, "model_type": "matrix", "model_uri": f"models:/{w.lm}"},
       admin_status=201)
simple("GET", "/api/v1/models", "read", "model", lambda w: {"name": w.rm})
route("GET", "/api/v1/models/{name}/{version}", "read", "model")(
    lambda w: Call("GET", f"/api/v1/models/{w.rm}/1"))
route("POST", "/api/v1/models/{name}/{version}/transition", "write", "model")(
    lambda w: Call("POST", f"/api/v1/models/{w.rm}/1/transition", json={"stage": "Production"}))
simple("GET", "/api/v1/events", "admin", "none", changes_state=False)
route("GET", "/api/v1/events/{event_id}", "admin", "none", changes_state=False)(
    lambda w: Call("GET", f"/api/v1/events/{w.event_id}"))
# No webhook is configured here, so a replay has no delivery to reset: nothing visible changes.
route("POST", "/api/v1/events/{event_id}/replay", "admin", "none", changes_state=False)(
    lambda w: Call("POST", f"/api/v1/events/{w.event_id}/replay", json={}))

# -- artifacts ----------------------------------------------------------------------------------------
route("GET", PROXY + "/{path*}", "read", "experiment")(lambda w: Call("GET", f"{PROXY}/{w.run_root}/notes.txt"))
route("PUT", PROXY + "/{path*}", "write", "experiment")(
    lambda w: Call("PUT", f"{PROXY}/{w.run_root}/uploaded/new.txt", data=b"uploaded by the matrix\n",
                   headers={"Content-Type": "application/octet-stream"}))
route("DELETE", PROXY + "/{path*}", "manage", "experiment")(lambda w: Call("DELETE", f"{PROXY}/{w.run_root}/notes.txt"))
simple("GET", PROXY, "read", "experiment", lambda w: {"path": w.run_root})
for _kind in ("create", "complete", "abort"):
    route("POST", f"{MPU}/{_kind}/{{path*}}", "write", "experiment", admin_status=501, changes_state=False)(
        lambda w, _kind=_kind: Call("POST", f"{MPU}/{_kind}/{w.run_root}/big.bin",
                                    json={"path": "big.bin", "num_parts": 1, "upload_id": "u1", "parts": []}))
simple("GET", M + "/artifacts/list", "read", "experiment", lambda w: {"run_id": w.run})
simple("GET", "/get-artifact", "read", "experiment", lambda w: {"run_id": w.run, "path": "notes.txt"})
simple("GET", "/model-versions/get-artifact", "read", "model", lambda w: {"name": w.rm, "version": "1", "path": "MLmodel"})
simple("GET", "/api/3.0/mlflow/server-info", "read", "none")


def cases(operations):
    """(route key, style) pairs for the builders declaring one of `operations`, every style that
    applies to the route's path."""
    out = []
    for key, builder in sorted(B.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if builder.operation not in operations:
            continue
        for style, make in STYLES.items():
            if make(key[1]) is not None:
                out.append(pytest.param(key, style, id=f"{key[0]} {key[1]} @{style}"))
    return out


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


class Matrix:
    def __init__(self, srv: ServerProcess):
        self.srv = srv
        self.url = srv.url
        self.admin = srv.admin_key
        self.reader_key = srv.create_key("authz-reader", template="reader")["api_key"]
        for user in ("authz-grantee", "authz-newcomer"):  # permission rows need existing users
            srv.create_key(user, template="reader")
        self.victim = srv.create_key("authz-victim", template="reader")
        self.world = self.new_world()
        # The last snapshot a passing check ended with, while nothing can have changed since (see
        # _snapshot_chain): the next check starts from it instead of reading everything again.
        self.last_snapshot: dict | None = None
        resp = Http(self.admin).get(self.url + ROUTES)
        assert resp.status_code == 200, f"GET {ROUTES} (admin) -> {resp.status_code} {resp.text[:300]}"
        routes = resp.json()["routes"]
        self.live: dict[tuple[str, str], dict] = {}
        for r in routes:
            key = (r["method"].upper(), r["path"])
            assert key not in self.live, f"{ROUTES} lists {key} twice"
            self.live[key] = r

    def new_world(self) -> SimpleNamespace:
        w = build_world(self.url, self.admin, grantee="authz-grantee", newcomer="authz-newcomer",
                        victim_key_id=self.victim["key_id"])
        w.reader_key = self.reader_key
        return w

    def snapshot(self, w=None) -> dict:
        return snapshot(self.url, self.admin, w or self.world, self.srv.artifacts_dir)

    def before(self) -> dict:
        return self.last_snapshot if self.last_snapshot is not None else self.snapshot()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    # Hundreds of deliberately unauthenticated requests from one address: lift the failure limit.
    srv = ServerProcess("hokusai", tmp_path_factory.mktemp("authz-matrix"),
                        extra_args=["--auth-failures-per-minute", "1000000"])
    srv.start()
    try:
        yield Matrix(srv)
    finally:
        srv.stop_gracefully_or_fail()


# Tests whose every step is followed by a full snapshot comparison: between two of them in a row
# nothing else ran, so the state the first one verified is the state the second one starts from.
SNAPSHOT_CHECKS = {"test_reader_key_is_refused_and_nothing_changes",
                   "test_no_key_and_unknown_key_get_401_and_nothing_changes"}


@pytest.fixture(autouse=True)
def _snapshot_chain(request):
    yield
    if request.node.originalname in SNAPSHOT_CHECKS and getattr(request.node, "_verified_state", False):
        return
    if "matrix" in request.fixturenames:
        request.getfixturevalue("matrix").last_snapshot = None


def live_route(matrix: Matrix, key) -> dict:
    live = matrix.live.get(key)
    if live is None:
        pytest.fail(f"{key[0]} {key[1]} has a builder but is not in the live route table")
    return live


def assert_unchanged(matrix: Matrix, before: dict, what: str, node=None) -> None:
    after = matrix.snapshot()
    if after != before:
        diff = state_diff(before, after)
        matrix.last_snapshot = None
        matrix.world = matrix.new_world()  # later cases start from intact resources
        pytest.fail(f"{what} changed server state:\n{diff}")
    matrix.last_snapshot = after
    if node is not None:
        node._verified_state = True


def assert_denied(resp: requests.Response, status: int, code: str, what: str) -> dict:
    body = body_of(resp)
    assert resp.status_code == status and isinstance(body, dict) and body.get("error_code") == code, (
        f"{what}: expected {status} {code}, got {resp.status_code} {str(body)[:500]!r}")
    assert isinstance(body.get("message"), str) and body["message"], f"{what}: no message: {body!r}"
    return body


# --------------------------------------------------------------------------------------------------
# The route table and the builders agree
# --------------------------------------------------------------------------------------------------


def test_every_live_route_has_a_request_builder(matrix):
    missing = sorted(set(matrix.live) - set(B))
    assert not missing, (
        "routes in the live table without a request builder in test_authz_matrix.py (add one, with "
        "a concrete request, so the route is part of the authorization matrix):\n"
        + "\n".join(f"  {m} {p}  ({matrix.live[(m, p)]['operation']}, {matrix.live[(m, p)]['resource']})"
                    for m, p in missing))


def test_every_builder_names_a_live_route(matrix):
    stale = sorted(set(B) - set(matrix.live))
    assert not stale, "request builders for routes the server no longer has:\n" + "\n".join(
        f"  {m} {p}" for m, p in stale)


def test_live_table_is_well_formed(matrix):
    bad = [r for r in matrix.live.values()
           if r["operation"] not in OPERATIONS or r["resource"] not in ("none", "experiment", "model")]
    assert not bad, f"routes with an unknown operation or resource: {bad}"


@pytest.mark.parametrize("key", sorted(B), ids=[f"{m} {p}" for m, p in sorted(B)])
def test_route_declares_the_expected_operation_and_resource(matrix, key):
    live = live_route(matrix, key)
    expected = B[key]
    assert (live["operation"], live["resource"]) == (expected.operation, expected.resource), (
        f"{key[0]} {key[1]} is declared {live['operation']}/{live['resource']} by the server, "
        f"{expected.operation}/{expected.resource} by the matrix: a change of access level must be "
        f"deliberate (update the builder) and is never silent")


# --------------------------------------------------------------------------------------------------
# Denials
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key,style", cases(DENIED_TO_READERS))
def test_reader_key_is_refused_and_nothing_changes(matrix, key, style, request):
    live = live_route(matrix, key)
    call = B[key].build(matrix.world)
    form = CREDENTIAL_FORM[style]
    before = matrix.before()
    resp = send(matrix.url, call, style, credential_headers(matrix.reader_key, form))
    what = f"reader key ({form}) {call.method} {STYLES[style](call.path)}"
    try:
        body = assert_denied(resp, 403, "PERMISSION_DENIED", what)
        if live["operation"] == "admin":
            assert body.get("required_scope") == "admin", f"{what}: {body}"
        else:
            assert body.get("required_scope", "").startswith(("experiment:write", "model:write")), (
                f"{what}: the refusal must name the missing write scope: {body}")
        assert sorted(body.get("key_scopes", [])) == ["experiment:read", "model:read"], f"{what}: {body}"
    finally:  # whatever the answer, the state must be as before (and the world rebuilt if not)
        assert_unchanged(matrix, before, what, request.node)


@pytest.mark.parametrize("key,style", cases(("authenticated", "read", "write", "manage", "admin")))
def test_no_key_and_unknown_key_get_401_and_nothing_changes(matrix, key, style, request):
    live_route(matrix, key)
    call = B[key].build(matrix.world)
    target = STYLES[style](call.path)
    before = matrix.before() if call.method != "GET" else None
    try:
        for label, headers in (("no key", {}), ("unknown key", {"Authorization": f"Bearer {UNKNOWN_KEY}"})):
            resp = send(matrix.url, call, style, headers)
            body = assert_denied(resp, 401, "UNAUTHENTICATED", f"{label}: {call.method} {target}")
            assert "required_scope" not in body and "key_scopes" not in body, body
    finally:
        if before is not None:
            assert_unchanged(matrix, before, f"anonymous {call.method} {target}", request.node)


@pytest.mark.parametrize("key,style", cases(("read",)))
def test_reader_key_is_accepted_on_read_routes(matrix, key, style):
    live_route(matrix, key)
    call = B[key].build(matrix.world)
    form = CREDENTIAL_FORM[style]
    resp = send(matrix.url, call, style, credential_headers(matrix.reader_key, form))
    assert resp.status_code == 200, (
        f"reader key ({form}) {call.method} {STYLES[style](call.path)} -> {resp.status_code} {resp.text[:400]}")


@pytest.mark.parametrize("key,style", cases(("public",)))
def test_public_routes_answer_without_a_key(matrix, key, style):
    live_route(matrix, key)
    call = B[key].build(matrix.world)
    resp = send(matrix.url, call, style)
    assert resp.status_code == 200, f"{call.method} {STYLES[style](call.path)} without a key -> {resp.status_code} {resp.text[:300]}"


# --------------------------------------------------------------------------------------------------
# The builders are effective: the admin key gets the request through and the state changes
# --------------------------------------------------------------------------------------------------


ADMIN_CASES = [pytest.param(key, id=f"{key[0]} {key[1]}") for key, b in sorted(B.items())
               if b.operation in DENIED_TO_READERS]


@pytest.mark.parametrize("key", ADMIN_CASES)
def test_builder_request_succeeds_with_the_admin_key_and_changes_state(matrix, key):
    live_route(matrix, key)
    builder = B[key]
    w = matrix.new_world()
    call = builder.build(w)
    before = matrix.snapshot(w)
    resp = send(matrix.url, call, "api", {"Authorization": f"Bearer {matrix.admin}"})
    assert resp.status_code == builder.admin_status, (
        f"admin {call.describe()} -> {resp.status_code} {resp.text[:500]} (expected {builder.admin_status}): "
        f"the builder's request is not a sensible one")
    after = matrix.snapshot(w)
    if builder.changes_state:
        assert after != before, f"admin {call.describe()} succeeded but the snapshot saw no change"
    else:
        assert after == before, f"admin {call.describe()} changed state:\n{state_diff(before, after)}"


def test_reader_denials_are_audited(matrix):
    """A reader's refused write leaves an audit entry naming the key and the outcome."""
    call = B[("POST", M + "/experiments/create")].build(matrix.world)
    resp = send(matrix.url, call, "api", credential_headers(matrix.reader_key, "bearer"))
    assert resp.status_code == 403, resp.text
    deadline = time.monotonic() + 5
    while True:
        audit = Http(matrix.admin).get(matrix.url + "/api/v1/audit",
                                       params={"user_id": "authz-reader", "outcome": "denied", "max_results": 1000})
        assert audit.status_code == 200, audit.text
        entries = audit.json().get("entries", [])
        hits = [e for e in entries if e.get("user_id") == "authz-reader" and e.get("outcome") == "denied"
                and e.get("route") == M + "/experiments/create"]
        if hits or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert hits, f"no audit entry for the denied reader request: {entries[-5:]}"
