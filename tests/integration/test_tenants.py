"""Two tenants on one server (security principles 4, 5, 6 and 13): user B owns an experiment, runs
with metrics, params, tags and artifacts, logged models, and a registered model with versions, tags,
an alias and a stage; user A holds a developer key of its own.

With `--default-permission NO_PERMISSIONS`, A cannot read, list, change, delete, restore, rename,
tag, alias, transition or register into anything of B's, by any route (every route of the
authorization matrix, aimed at B's resources), nor through the stock client; searches are filtered
(B's names never appear); A cannot make a version of its own model point at B's run, logged model or
artifact path. Every refusal is 403 PERMISSION_DENIED (or absence, for filtered lists) and leaves B's
state unchanged (a snapshot of everything B owns, through B's key and the artifact directory).

With the default (READ), A reads B's things but cannot write them. A grant of EDIT through the
MLflow-auth permissions API lets A add a version to B's model (but not delete it: MANAGE), and a
key scoped `model:write:acme-*` creates `acme-...` models only.
"""

from __future__ import annotations

import pytest
import requests

from itest_helpers import Http, ServerProcess, unique
from test_authz_matrix import B as BUILDERS
from test_authz_matrix import (MLFLOW, PROXY, RM_PERMS, Call, Rest, body_of, build_world,
                               send, snapshot, state_diff)

pytestmark = pytest.mark.hokusai_only

USER_A, USER_B, USER_C = "tenant-a", "tenant-b", "tenant-c"
M, RM, MV = MLFLOW, MLFLOW + "/registered-models", MLFLOW + "/model-versions"

# Routes that create something new in the caller's own name: A may call them (they are not aimed at
# B); the name-pattern test covers them.
OWN_CREATES = {("POST", M + "/experiments/create"), ("POST", RM + "/create")}
# Searches that answer 200 with what the caller may read (principle 6): checked for filtering.
LISTINGS = {("POST", M + "/experiments/search"), ("GET", M + "/experiments/search"),
            ("GET", RM + "/search"), ("GET", MV + "/search"), ("GET", "/api/v1/models")}

AIMED_AT_B = sorted(k for k, b in BUILDERS.items()
                    if b.resource in ("experiment", "model") and k not in OWN_CREATES | LISTINGS)
READS_AIMED_AT_B = [k for k in AIMED_AT_B if BUILDERS[k].operation == "read"]
WRITES_AIMED_AT_B = [k for k in AIMED_AT_B if BUILDERS[k].operation in ("write", "manage")]


def ids(keys):
    return [f"{m} {p}" for m, p in keys]


# --------------------------------------------------------------------------------------------------
# Servers, users, worlds
# --------------------------------------------------------------------------------------------------


class Tenancy:
    """One server with users A and B (developer keys) and C (reader key; the grantee of B's
    permission rows); `b` is B's world, `a` is A's own."""

    def __init__(self, srv: ServerProcess, default_permission: str):
        self.srv = srv
        self.url = srv.url
        self.default_permission = default_permission
        self.a_key = srv.create_key(USER_A, template="developer")["api_key"]
        self.b_key = srv.create_key(USER_B, template="developer")["api_key"]
        self.c_key = srv.create_key(USER_C, template="reader")["api_key"]
        self.b = build_world(self.url, self.b_key, grantee=USER_C, newcomer=USER_A, label="tenant-b")
        self.b.reader_key = self.c_key
        self.a = build_world(self.url, self.a_key, grantee=USER_C, newcomer=USER_B, label="tenant-a")
        self.a.reader_key = self.c_key

    def b_snapshot(self) -> dict:
        return snapshot(self.url, self.b_key, self.b, self.srv.artifacts_dir)

    def a_snapshot(self) -> dict:
        return snapshot(self.url, self.a_key, self.a, self.srv.artifacts_dir)

    def as_a(self, call: Call) -> requests.Response:
        return send(self.url, call, "api", {"Authorization": f"Bearer {self.a_key}"})

    def as_b(self, call: Call) -> requests.Response:
        return send(self.url, call, "api", {"Authorization": f"Bearer {self.b_key}"})

    def b_names(self) -> list[str]:
        """Strings that identify B's resources and must never reach A in a filtered list."""
        return [self.b.exp_name, self.b.exp_deleted_name, self.b.rm, self.b.run, self.b.lm]


def _start(tmp_path_factory, name: str, extra: list[str]) -> ServerProcess:
    srv = ServerProcess("hokusai", tmp_path_factory.mktemp(name), extra_args=extra)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    srv = _start(tmp_path_factory, "tenants-isolated", ["--default-permission", "NO_PERMISSIONS"])
    try:
        yield Tenancy(srv, "NO_PERMISSIONS")
    finally:
        srv.stop_gracefully_or_fail()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    srv = _start(tmp_path_factory, "tenants-default", [])
    try:
        yield Tenancy(srv, "READ")
    finally:
        srv.stop_gracefully_or_fail()


def assert_permission_denied(resp: requests.Response, what: str, held: str | None = None) -> dict:
    body = body_of(resp)
    assert resp.status_code == 403 and isinstance(body, dict) and body.get("error_code") == "PERMISSION_DENIED", (
        f"{what}: expected 403 PERMISSION_DENIED, got {resp.status_code} {str(body)[:500]!r}")
    assert isinstance(body.get("message"), str) and body["message"], body
    if held is not None:
        # A developer key has the scopes: the refusal must come from the per-user permission.
        assert body.get("required_permission") in ("READ", "EDIT", "MANAGE"), f"{what}: {body}"
        assert body.get("permission") == held, f"{what}: {body}"
        assert body.get("resource"), f"{what}: {body}"
    return body


def assert_b_unchanged(t: Tenancy, before: dict, what: str) -> None:
    after = t.b_snapshot()
    assert after == before, f"{what} changed B's state:\n{state_diff(before, after)}"


def mlflow_client(monkeypatch, t: Tenancy, key: str):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", t.url)
    return MlflowClient(tracking_uri=t.url, registry_uri=t.url)


# --------------------------------------------------------------------------------------------------
# NO_PERMISSIONS: A reaches nothing of B's, by any route
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", AIMED_AT_B, ids=ids(AIMED_AT_B))
def test_isolated_a_is_refused_on_every_route_aimed_at_b(isolated, key):
    t = isolated
    call = BUILDERS[key].build(t.b)
    before = t.b_snapshot()
    resp = t.as_a(call)
    try:
        assert_permission_denied(resp, f"A {call.describe()}", held="NO_PERMISSIONS")
    finally:
        assert_b_unchanged(t, before, f"A {call.describe()}")


@pytest.mark.parametrize("key", READS_AIMED_AT_B, ids=ids(READS_AIMED_AT_B))
def test_isolated_b_itself_reads_what_a_is_refused(isolated, key):
    """The control: the read A was refused is a valid request (B, the owner, gets 200; the writes'
    validity is the matrix's admin control)."""
    call = BUILDERS[key].build(isolated.b)
    resp = isolated.as_b(call)
    assert resp.status_code == 200, f"B {call.describe()} -> {resp.status_code} {resp.text[:400]}"


def test_isolated_searches_hide_b(isolated):
    t = isolated
    h = Http(t.a_key)
    checks = [
        ("POST experiments/search", h.post(t.url + M + "/experiments/search", json={"max_results": 1000, "view_type": "ALL"})),
        ("GET experiments/search", h.get(t.url + M + "/experiments/search", params={"max_results": 1000, "view_type": "ALL"})),
        ("experiments/search by B's name", h.post(t.url + M + "/experiments/search",
                                                  json={"filter": f"name = '{t.b.exp_name}'", "view_type": "ALL"})),
        ("registered-models/search", h.get(t.url + RM + "/search", params={"max_results": 1000})),
        ("registered-models/search by B's name", h.get(t.url + RM + "/search", params={"filter": f"name = '{t.b.rm}'"})),
        ("model-versions/search", h.get(t.url + MV + "/search", params={"max_results": 1000})),
        ("model-versions/search by B's name", h.get(t.url + MV + "/search", params={"filter": f"name = '{t.b.rm}'"})),
        ("model-versions/search by B's run", h.get(t.url + MV + "/search", params={"filter": f"run_id = '{t.b.run}'"})),
        ("GET /api/v1/models", h.get(t.url + "/api/v1/models", params={"max_results": 1000})),
        ("GET /api/v1/models by B's name", h.get(t.url + "/api/v1/models", params={"name": t.b.rm})),
    ]
    for what, resp in checks:
        assert resp.status_code == 200, f"A {what} -> {resp.status_code} {resp.text[:300]}"
        for name in t.b_names():
            assert name not in resp.text, f"A {what} shows B's {name!r}: {resp.text[:600]}"
    # Filtered, not emptied: A's own things are there.
    mine = h.post(t.url + M + "/experiments/search", json={"max_results": 1000}).json()
    assert t.a.exp_name in [e["name"] for e in mine.get("experiments", [])], mine
    models = h.get(t.url + RM + "/search", params={"max_results": 1000}).json()
    assert t.a.rm in [m["name"] for m in models.get("registered_models", [])], models
    versions = h.get(t.url + MV + "/search", params={"filter": f"name = '{t.a.rm}'"}).json()
    assert len(versions.get("model_versions", [])) >= 2, versions


def test_isolated_mixed_requests_naming_b_are_refused(isolated):
    t = isolated
    for path, body in ((M + "/runs/search", {"experiment_ids": [t.a.exp, t.b.exp]}),
                       (M + "/logged-models/search", {"experiment_ids": [t.a.exp, t.b.exp]}),
                       (M + "/runs/search", {"experiment_ids": [t.b.exp], "filter": "attributes.status = 'RUNNING'"})):
        resp = t.as_a(Call("POST", path, json=body))
        assert_permission_denied(resp, f"A POST {path} {body}", held="NO_PERMISSIONS")
    # Bulk metric reads naming A's run and B's run at once.
    for path, params in ((M + "/metrics/get-history-bulk", {"run_id": [t.a.run, t.b.run], "metric_key": "m1"}),
                         (M + "/metrics/get-history-bulk-interval", {"run_ids": [t.a.run, t.b.run], "metric_key": "m1"})):
        resp = t.as_a(Call("GET", path, params=params))
        assert_permission_denied(resp, f"A GET {path} {params}", held="NO_PERMISSIONS")
    resp = t.as_a(Call("POST", M + "/runs/search", json={"experiment_ids": [t.a.exp]}))
    assert resp.status_code == 200 and len(resp.json()["runs"]) == 1, resp.text[:300]


def test_isolated_a_cannot_point_its_own_model_at_b(isolated, monkeypatch):
    t = isolated
    sources = [
        {"source": f"runs:/{t.b.run}/model", "run_id": t.b.run},
        {"source": f"runs:/{t.b.run}/model"},
        {"source": f"models:/{t.b.lm}"},
        {"source": f"mlflow-artifacts:/{t.b.run_root}/model"},
        {"source": f"mlflow-artifacts:/{t.b.lm_root}"},
        {"source": f"models:/{t.b.rm}/1"},
        # A's own artifact, but claiming B's run or B's logged model as its origin.
        {"source": f"runs:/{t.a.run}/model", "run_id": t.b.run},
        {"source": f"runs:/{t.a.run}/model", "model_id": t.b.lm},
    ]
    before_b, before_a = t.b_snapshot(), t.a_snapshot()
    for fields in sources:
        call = Call("POST", MV + "/create", json={"name": t.a.rm, **fields})
        assert_permission_denied(t.as_a(call), f"A {call.describe()}", held="NO_PERMISSIONS")
    client = mlflow_client(monkeypatch, t, t.a_key)
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as exc:
        client.create_model_version(t.a.rm, f"runs:/{t.b.run}/model", run_id=t.b.run)
    assert exc.value.error_code == "PERMISSION_DENIED", exc.value
    assert_b_unchanged(t, before_b, "A's model-version creates from B's sources")
    after_a = t.a_snapshot()
    assert after_a == before_a, f"A's refused creates changed A's model:\n{state_diff(before_a, after_a)}"
    # The control: A's own run is an acceptable source for A's own model.
    ok = t.as_a(Call("POST", MV + "/create", json={"name": t.a.rm, "source": f"runs:/{t.a.run}/model",
                                                   "run_id": t.a.run}))
    assert ok.status_code == 200, ok.text[:400]


def test_isolated_a_cannot_write_artifacts_under_b(isolated):
    t = isolated
    before = t.b_snapshot()
    calls = [
        Call("PUT", f"{PROXY}/{t.b.run_root}/evil.txt", data=b"x", headers={"Content-Type": "application/octet-stream"}),
        Call("PUT", f"{PROXY}/{t.b.run_root}/notes.txt", data=b"overwritten", headers={"Content-Type": "application/octet-stream"}),
        Call("PUT", f"{PROXY}/{t.b.lm_root}/MLmodel", data=b"overwritten", headers={"Content-Type": "application/octet-stream"}),
        Call("DELETE", f"{PROXY}/{t.b.run_root}/notes.txt"),
        Call("DELETE", f"{PROXY}/{t.b.run_root}"),
        Call("DELETE", f"{PROXY}/{t.b.lm_root}/MLmodel"),
        Call("GET", f"{PROXY}/{t.b.run_root}/dir/a.txt"),
        Call("GET", PROXY, params={"path": f"{t.b.lm_root}"}),
    ]
    for call in calls:
        assert_permission_denied(t.as_a(call), f"A {call.describe()}", held="NO_PERMISSIONS")
    # The experiment directory itself is no artifact root at all: refused for everyone.
    assert_permission_denied(t.as_a(Call("GET", PROXY, params={"path": t.b.exp})), "A lists B's experiment dir")
    assert_b_unchanged(t, before, "A's artifact writes under B's run and logged model")


def _download_run_artifact(c, t, tmp):
    from mlflow.artifacts import download_artifacts

    return download_artifacts(run_id=t.b.run, artifact_path="notes.txt", dst_path=str(tmp / "dl"),
                              tracking_uri=t.url)


def _download_model_version(c, t, tmp):
    from mlflow.artifacts import download_artifacts

    return download_artifacts(artifact_uri=f"models:/{t.b.rm}/1", dst_path=str(tmp / "dl2"), tracking_uri=t.url)


def _log_artifact(c, t, tmp):
    local = tmp / "upload.txt"
    local.write_text("from A\n")
    return c.log_artifact(t.b.run, str(local))


_MLFLOW3 = (pytest.mark.requires_mlflow3,)

# Stock-client calls A makes against B's things: (name, fn(client, tenancy, tmp_path), marks).
CLIENT_DENIALS = [
    ("get_experiment", lambda c, t, tmp: c.get_experiment(t.b.exp), ()),
    ("get_experiment_by_name", lambda c, t, tmp: c.get_experiment_by_name(t.b.exp_name), ()),
    ("get_run", lambda c, t, tmp: c.get_run(t.b.run), ()),
    ("get_metric_history", lambda c, t, tmp: c.get_metric_history(t.b.run, "m1"), ()),
    ("list_artifacts", lambda c, t, tmp: c.list_artifacts(t.b.run), ()),
    ("download_artifacts(run)", _download_run_artifact, ()),
    ("download_artifacts(models:/)", _download_model_version, ()),
    ("search_runs", lambda c, t, tmp: c.search_runs([t.b.exp]), ()),
    ("get_logged_model", lambda c, t, tmp: c.get_logged_model(t.b.lm), _MLFLOW3),
    ("search_logged_models", lambda c, t, tmp: c.search_logged_models(experiment_ids=[t.b.exp]), _MLFLOW3),
    ("get_registered_model", lambda c, t, tmp: c.get_registered_model(t.b.rm), ()),
    ("get_latest_versions", lambda c, t, tmp: c.get_latest_versions(t.b.rm), ()),
    ("get_model_version", lambda c, t, tmp: c.get_model_version(t.b.rm, "1"), ()),
    ("get_model_version_by_alias", lambda c, t, tmp: c.get_model_version_by_alias(t.b.rm, "champion"), ()),
    ("get_model_version_download_uri", lambda c, t, tmp: c.get_model_version_download_uri(t.b.rm, "1"), ()),
    ("set_experiment_tag", lambda c, t, tmp: c.set_experiment_tag(t.b.exp, "team", "a"), ()),
    ("rename_experiment", lambda c, t, tmp: c.rename_experiment(t.b.exp, unique("stolen")), ()),
    ("delete_experiment", lambda c, t, tmp: c.delete_experiment(t.b.exp), ()),
    ("restore_experiment", lambda c, t, tmp: c.restore_experiment(t.b.exp_deleted), ()),
    ("create_run", lambda c, t, tmp: c.create_run(t.b.exp), ()),
    ("log_metric", lambda c, t, tmp: c.log_metric(t.b.run, "m1", 42.0), ()),
    ("log_param", lambda c, t, tmp: c.log_param(t.b.run, "p-a", "x"), ()),
    ("set_tag", lambda c, t, tmp: c.set_tag(t.b.run, "rt1", "a"), ()),
    ("set_terminated", lambda c, t, tmp: c.set_terminated(t.b.run), ()),
    ("delete_run", lambda c, t, tmp: c.delete_run(t.b.run), ()),
    ("restore_run", lambda c, t, tmp: c.restore_run(t.b.run_deleted), ()),
    ("log_artifact", _log_artifact, ()),
    ("set_logged_model_tags", lambda c, t, tmp: c.set_logged_model_tags(t.b.lm, {"lt1": "a"}), _MLFLOW3),
    ("delete_logged_model", lambda c, t, tmp: c.delete_logged_model(t.b.lm), _MLFLOW3),
    ("update_registered_model", lambda c, t, tmp: c.update_registered_model(t.b.rm, "a"), ()),
    ("rename_registered_model", lambda c, t, tmp: c.rename_registered_model(t.b.rm, unique("stolen")), ()),
    ("delete_registered_model", lambda c, t, tmp: c.delete_registered_model(t.b.rm), ()),
    ("set_registered_model_tag", lambda c, t, tmp: c.set_registered_model_tag(t.b.rm, "rmt1", "a"), ()),
    ("set_registered_model_alias", lambda c, t, tmp: c.set_registered_model_alias(t.b.rm, "mine", "1"), ()),
    ("delete_registered_model_alias", lambda c, t, tmp: c.delete_registered_model_alias(t.b.rm, "champion"), ()),
    ("create_model_version", lambda c, t, tmp: c.create_model_version(
        t.b.rm, f"runs:/{t.a.run}/model", run_id=t.a.run), ()),
    ("transition_model_version_stage", lambda c, t, tmp: c.transition_model_version_stage(t.b.rm, "1", "Archived"), ()),
    ("update_model_version", lambda c, t, tmp: c.update_model_version(t.b.rm, "1", "a"), ()),
    ("set_model_version_tag", lambda c, t, tmp: c.set_model_version_tag(t.b.rm, "1", "vt1", "a"), ()),
    ("delete_model_version", lambda c, t, tmp: c.delete_model_version(t.b.rm, "2"), ()),
]


@pytest.mark.parametrize("name,fn", [pytest.param(n, f, marks=m, id=n) for n, f, m in CLIENT_DENIALS])
def test_isolated_stock_client_as_a_is_refused(isolated, monkeypatch, tmp_path, name, fn):
    from mlflow.exceptions import MlflowException

    t = isolated
    client = mlflow_client(monkeypatch, t, t.a_key)
    before = t.b_snapshot()
    with pytest.raises(MlflowException) as exc:
        fn(client, t, tmp_path)
    # The client sometimes wraps the server's answer (e.g. set_logged_model_tags first reads the
    # model and re-raises as INVALID_PARAMETER_VALUE): look down the exception chain.
    chain, e = [], exc.value
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__ or e.__context__
    assert any(getattr(e, "error_code", None) == "PERMISSION_DENIED" for e in chain), (
        f"A's client.{name} on B's resources failed, but not with PERMISSION_DENIED: {chain!r}")
    assert_b_unchanged(t, before, f"A's client.{name}")


def test_isolated_stock_client_searches_hide_b(isolated, monkeypatch):
    t = isolated
    client = mlflow_client(monkeypatch, t, t.a_key)
    from mlflow.entities import ViewType

    names = [e.name for e in client.search_experiments(view_type=ViewType.ALL, max_results=1000)]
    assert t.a.exp_name in names and t.b.exp_name not in names and t.b.exp_deleted_name not in names, names
    models = [m.name for m in client.search_registered_models(max_results=1000)]
    assert t.a.rm in models and t.b.rm not in models, models
    assert client.search_model_versions(f"name = '{t.b.rm}'") == []
    assert all(v.name != t.b.rm for v in client.search_model_versions(max_results=1000))


# --------------------------------------------------------------------------------------------------
# A grant of EDIT on B's model
# --------------------------------------------------------------------------------------------------


def test_isolated_edit_grant_lets_a_add_a_version_but_not_delete(isolated, monkeypatch):
    t = isolated
    rb = Rest(t.url, t.b_key)
    name = unique("tenant-b-shared")
    rb.post("/registered-models/create", {"name": name})
    rb.post("/model-versions/create", {"name": name, "source": f"runs:/{t.b.run}/model", "run_id": t.b.run})
    a_create = Call("POST", MV + "/create", json={"name": name, "source": f"runs:/{t.a.run}/model", "run_id": t.a.run})
    # Before the grant: refused.
    assert_permission_denied(t.as_a(a_create), "A creates a version in B's model before any grant",
                             held="NO_PERMISSIONS")

    granted = t.as_b(Call("POST", RM_PERMS + "/create", json={"name": name, "username": USER_A, "permission": "EDIT"}))
    assert granted.status_code == 200, granted.text[:400]
    assert granted.json()["registered_model_permission"]["permission"] == "EDIT", granted.text

    made = t.as_a(a_create)
    assert made.status_code == 200, f"A with EDIT creating a version: {made.status_code} {made.text[:400]}"
    assert made.json()["model_version"]["version"] == "2", made.text
    client = mlflow_client(monkeypatch, t, t.a_key)
    mv = client.create_model_version(name, f"runs:/{t.a.run}/model", run_id=t.a.run)
    assert mv.version == "3"
    # EDIT covers writes (alias, tag) and reads of the model...
    assert t.as_a(Call("POST", RM + "/alias", json={"name": name, "alias": "a-pick", "version": "2"})).status_code == 200
    assert t.as_a(Call("GET", RM + "/get", params={"name": name})).status_code == 200

    # ...but not MANAGE, not B's experiment, and not a source A cannot read.
    before = Rest(t.url, t.b_key).get("/model-versions/search", {"filter": f"name = '{name}'"})
    for call in (
        Call("DELETE", RM + "/delete", json={"name": name}),
        Call("DELETE", MV + "/delete", json={"name": name, "version": "1"}),
        Call("PATCH", RM_PERMS + "/update", json={"name": name, "username": USER_A, "permission": "MANAGE"}),
        Call("POST", RM_PERMS + "/create", json={"name": name, "username": USER_C, "permission": "READ"}),
        Call("GET", RM_PERMS + "/get", params={"name": name, "username": USER_A}),
    ):
        assert_permission_denied(t.as_a(call), f"A (EDIT) {call.describe()}", held="EDIT")
    for call in (
        Call("POST", MV + "/create", json={"name": name, "source": f"runs:/{t.b.run}/model", "run_id": t.b.run}),
        Call("GET", M + "/runs/get", params={"run_id": t.b.run}),
    ):
        assert_permission_denied(t.as_a(call), f"A (EDIT on the model only) {call.describe()}", held="NO_PERMISSIONS")
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as exc:
        client.delete_registered_model(name)
    assert exc.value.error_code == "PERMISSION_DENIED"
    after = Rest(t.url, t.b_key).get("/model-versions/search", {"filter": f"name = '{name}'"})
    assert after == before, "A's refused deletes changed B's model"
    perm = t.as_b(Call("GET", RM_PERMS + "/get", params={"name": name, "username": USER_A}))
    assert perm.status_code == 200 and perm.json()["registered_model_permission"]["permission"] == "EDIT", perm.text


def test_isolated_b_can_revoke_a_grant(isolated):
    t = isolated
    rb = Rest(t.url, t.b_key)
    name = unique("tenant-b-revoke")
    rb.post("/registered-models/create", {"name": name})
    rb.call("POST", RM_PERMS + "/create", json_body={"name": name, "username": USER_A, "permission": "READ"})
    assert t.as_a(Call("GET", RM + "/get", params={"name": name})).status_code == 200
    rb.call("DELETE", RM_PERMS + "/delete", json_body={"name": name, "username": USER_A})
    assert_permission_denied(t.as_a(Call("GET", RM + "/get", params={"name": name})),
                             "A after B revoked the grant", held="NO_PERMISSIONS")


# --------------------------------------------------------------------------------------------------
# Name-pattern scopes
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def acme_key(isolated):
    return isolated.srv.create_key(
        "tenant-acme", template=None,
        scopes=["experiment:read", "experiment:write:acme-*", "model:read", "model:write:acme-*"])["api_key"]


def test_name_pattern_scope_creates_only_matching_names(isolated, acme_key, monkeypatch):
    t = isolated
    h = Http(acme_key)
    admin = Http(t.srv.admin_key)
    good, bad = unique("acme-x"), unique("other-x")
    resp = h.post(t.url + RM + "/create", json={"name": good})
    assert resp.status_code == 200, f"model:write:acme-* creating {good}: {resp.status_code} {resp.text[:300]}"
    resp = h.post(t.url + RM + "/create", json={"name": bad})
    body = assert_permission_denied(resp, f"model:write:acme-* creating {bad}")
    assert body.get("required_scope", "").startswith("model:write"), body
    gone = admin.get(t.url + RM + "/get", params={"name": bad})
    assert gone.status_code == 404, f"{bad} exists after a refused create: {gone.status_code} {gone.text[:200]}"

    resp = h.post(t.url + M + "/experiments/create", json={"name": unique("acme-e")})
    assert resp.status_code == 200, resp.text[:300]
    bad_exp = unique("other-e")
    assert_permission_denied(h.post(t.url + M + "/experiments/create", json={"name": bad_exp}),
                             f"experiment:write:acme-* creating {bad_exp}")
    gone = admin.get(t.url + M + "/experiments/get-by-name", params={"experiment_name": bad_exp})
    assert gone.status_code == 404, gone.text[:200]

    client = mlflow_client(monkeypatch, t, acme_key)
    from mlflow.exceptions import MlflowException

    assert client.create_registered_model(unique("acme-c")).name.startswith("acme-c")
    with pytest.raises(MlflowException) as exc:
        client.create_registered_model(unique("other-c"))
    assert exc.value.error_code == "PERMISSION_DENIED"


def test_name_pattern_scope_cannot_write_other_names_it_has_permission_on(isolated, acme_key):
    """A patterned key writes only matching names, even where its user holds MANAGE (the scope
    narrows the key; permissions are per user)."""
    t = isolated
    name = unique("other-owned")
    # Same user, unrestricted key: creates a model the user therefore manages.
    full = t.srv.create_key("tenant-acme", template="developer")["api_key"]
    assert Http(full).post(t.url + RM + "/create", json={"name": name}).status_code == 200
    before = Http(full).get(t.url + RM + "/get", params={"name": name}).json()
    for call in (Call("POST", RM + "/set-tag", json={"name": name, "key": "k", "value": "v"}),
                 Call("DELETE", RM + "/delete", json={"name": name})):
        resp = send(t.url, call, "api", {"Authorization": f"Bearer {acme_key}"})
        body = assert_permission_denied(resp, f"model:write:acme-* {call.describe()}")
        assert body.get("required_scope", "").startswith("model:write"), body
    assert Http(full).get(t.url + RM + "/get", params={"name": name}).json() == before


def test_name_pattern_scope_cannot_rename_out_of_its_pattern(isolated, acme_key):
    """Renaming acme-... to other-... would make a model the key may not create."""
    t = isolated
    h = Http(acme_key)
    name, target = unique("acme-r"), unique("other-r")
    assert h.post(t.url + RM + "/create", json={"name": name}).status_code == 200
    resp = h.post(t.url + RM + "/rename", json={"name": name, "new_name": target})
    assert_permission_denied(resp, f"model:write:acme-* renaming {name} to {target}")
    admin = Http(t.srv.admin_key)
    assert admin.get(t.url + RM + "/get", params={"name": name}).status_code == 200
    assert admin.get(t.url + RM + "/get", params={"name": target}).status_code == 404
    exp_name = unique("acme-re")
    exp = h.post(t.url + M + "/experiments/create", json={"name": exp_name}).json()["experiment_id"]
    resp = h.post(t.url + M + "/experiments/update", json={"experiment_id": exp, "new_name": unique("other-re")})
    assert_permission_denied(resp, f"experiment:write:acme-* renaming {exp_name} out of the pattern")
    assert admin.get(t.url + M + "/experiments/get", params={"experiment_id": exp}).json()["experiment"]["name"] == exp_name


# --------------------------------------------------------------------------------------------------
# Default READ: A reads B's things, writes none of them
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", READS_AIMED_AT_B, ids=ids(READS_AIMED_AT_B))
def test_default_read_a_reads_b(shared, key):
    call = BUILDERS[key].build(shared.b)
    resp = shared.as_a(call)
    assert resp.status_code == 200, f"A {call.describe()} under default READ -> {resp.status_code} {resp.text[:400]}"


@pytest.mark.parametrize("key", WRITES_AIMED_AT_B, ids=ids(WRITES_AIMED_AT_B))
def test_default_read_a_cannot_write_b(shared, key):
    t = shared
    call = BUILDERS[key].build(t.b)
    before = t.b_snapshot()
    resp = t.as_a(call)
    try:
        assert_permission_denied(resp, f"A {call.describe()} under default READ", held="READ")
    finally:
        assert_b_unchanged(t, before, f"A {call.describe()}")


def test_default_read_searches_show_b(shared):
    t = shared
    h = Http(t.a_key)
    exps = h.post(t.url + M + "/experiments/search", json={"max_results": 1000}).json()
    assert t.b.exp_name in [e["name"] for e in exps["experiments"]], exps
    models = h.get(t.url + RM + "/search", params={"max_results": 1000}).json()
    assert t.b.rm in [m["name"] for m in models["registered_models"]], models
    versions = h.get(t.url + MV + "/search", params={"filter": f"name = '{t.b.rm}'"}).json()
    assert len(versions["model_versions"]) == 2, versions
    runs = h.post(t.url + M + "/runs/search", json={"experiment_ids": [t.b.exp]})
    assert runs.status_code == 200 and [r["info"]["run_id"] for r in runs.json()["runs"]] == [t.b.run], runs.text[:300]


def test_default_read_a_may_use_b_run_as_a_source_for_its_own_model(shared):
    """READ on B's experiment is enough to register B's run into a model A owns."""
    t = shared
    resp = t.as_a(Call("POST", MV + "/create", json={"name": t.a.rm, "source": f"runs:/{t.b.run}/model",
                                                     "run_id": t.b.run}))
    assert resp.status_code == 200, resp.text[:400]


def test_default_read_stock_client_reads_b_but_cannot_log(shared, monkeypatch, tmp_path):
    from mlflow.exceptions import MlflowException

    t = shared
    client = mlflow_client(monkeypatch, t, t.a_key)
    assert client.get_run(t.b.run).data.params == {"p1": "v1"}
    assert [m.value for m in client.get_metric_history(t.b.run, "m1")] == [0.5, 0.7]
    assert {f.path for f in client.list_artifacts(t.b.run)} == {"notes.txt", "model", "dir"}
    from mlflow.artifacts import download_artifacts

    got = download_artifacts(run_id=t.b.run, artifact_path="notes.txt", dst_path=str(tmp_path), tracking_uri=t.url)
    assert open(got, "rb").read() == b"notes\n"
    assert client.get_model_version_by_alias(t.b.rm, "champion").version == "1"
    before = t.b_snapshot()
    for name, fn in (("log_metric", lambda: client.log_metric(t.b.run, "m1", 1.0)),
                     ("set_tag", lambda: client.set_tag(t.b.run, "rt1", "a")),
                     ("delete_registered_model", lambda: client.delete_registered_model(t.b.rm)),
                     ("set_registered_model_alias", lambda: client.set_registered_model_alias(t.b.rm, "a", "2"))):
        with pytest.raises(MlflowException) as exc:
            fn()
        assert exc.value.error_code == "PERMISSION_DENIED", f"{name}: {exc.value!r}"
    assert_b_unchanged(t, before, "A's client writes under default READ")
