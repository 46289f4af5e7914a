"""API keys (spec hokusai-api.md sections 1-2, security principles 9-11): every non-public route needs a
key; the stock MLflow client works with one; refusals are uniform; revocation, rotation and rate
limits take effect at once; keys are managed over REST and offline; the first start mints one key.

Most tests share one module server (`ks`) started with a generous failed-authentication limit, so
that the deliberate 401s here do not trip the per-address limiter; the tests of that limiter and of
the first-start banner get servers of their own. Raw `requests` is used on purpose: nothing adds a
credential the test did not write.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import time

import mlflow
import numpy as np
import pytest
import requests
from mlflow.exceptions import MlflowException

from itest_helpers import (
    ADMIN_USER,
    API_PREFIX,
    KEY_SHAPE,
    KEY_TEMPLATES,
    ServerProcess,
    allow_in_log,
    auth_headers,
    keys_of,
    log_sklearn_model,
    predictions_of,
    register_secret,
    rfc3339,
    unique,
)

pytestmark = pytest.mark.hokusai_only

V1 = "/api/v1"
TIMEOUT = 30
READER = KEY_TEMPLATES["reader"]
DEVELOPER = KEY_TEMPLATES["developer"]
WRITES = {"experiment:write", "model:write"}
VALIDATE_FIELDS = {"user_id", "email", "key_id", "service_id", "scopes", "roles", "is_admin",
                   "rate_limit_per_hour", "has_sufficient_balance", "balance", "expires_at", "user"}
LIST_FIELDS = {"key_id", "name", "key_prefix", "scopes", "created_at", "last_used_at", "expires_at",
               "revoked_at", "is_active"}
AUDIT_FIELDS = {"timestamp", "user_id", "key_id", "method", "route", "resource", "outcome", "status",
                "client_address", "detail"}


# --------------------------------------------------------------------------------------------------
# Servers and small helpers
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ks(tmp_path_factory):
    """The module's Hokusai server (admin key minted offline by the harness)."""
    srv = ServerProcess("hokusai", tmp_path_factory.mktemp("hokusai-keys"),
                        ["--auth-failures-per-minute", "100000"])
    srv.start()
    yield srv
    srv.stop_gracefully_or_fail()


def url(srv, path: str) -> str:
    return srv.url + path


def probe(srv, headers=None, **kw) -> requests.Response:
    """A protected read (GET experiments/get of the Default experiment) with exactly `headers`."""
    return requests.get(url(srv, API_PREFIX + "/experiments/get"), params={"experiment_id": "0"},
                        headers=headers or {}, timeout=TIMEOUT, **kw)


def as_key(key: str) -> dict:
    return auth_headers(key)


def v1(srv, method: str, path: str, key: str | None, **kw) -> requests.Response:
    return requests.request(method, url(srv, V1 + path), headers=auth_headers(key), timeout=TIMEOUT, **kw)


def ok_json(resp: requests.Response, status: int = 200):
    assert resp.status_code == status, f"{resp.request.method} {resp.url} -> {resp.status_code} {resp.text[:500]}"
    return resp.json()


def assert_unauthenticated(resp: requests.Response, www_authenticate: bool = True) -> bytes:
    assert resp.status_code == 401, f"expected 401, got {resp.status_code} {resp.text[:300]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == "UNAUTHENTICATED" and body["message"], body
    if www_authenticate:
        assert resp.headers.get("WWW-Authenticate"), f"401 without WWW-Authenticate: {dict(resp.headers)}"
    return resp.content


def assert_denied(resp: requests.Response) -> dict:
    """403 PERMISSION_DENIED with a message (the rest of the body: test_every_403_has_the_contract_body)."""
    assert resp.status_code == 403, f"expected 403, got {resp.status_code} {resp.text[:300]}"
    body = resp.json()
    assert body.get("error_code") == "PERMISSION_DENIED" and body.get("message"), body
    return body


def denial_body_problems(body: dict) -> list[str]:
    """What a 403 body lacks of the contract: message, detail, and either required_scope + key_scopes
    (a list) or required_permission + permission + resource."""
    problems = [f"no {f}" for f in ("message", "detail") if not body.get(f)]
    by_scope = bool(body.get("required_scope")) and isinstance(body.get("key_scopes"), list)
    by_permission = all(body.get(f) for f in ("required_permission", "permission", "resource"))
    if not (by_scope or by_permission):
        problems.append("neither required_scope + key_scopes nor required_permission + permission + resource")
    return problems


def is_developer(scopes) -> bool:
    """The developer template's scopes (whether or not the reads are spelled out; that they are is
    test_developer_template_lists_reader_scopes_too)."""
    return WRITES <= set(scopes) <= DEVELOPER


def new_user(prefix: str = "user") -> str:
    return unique(prefix)


def mutate_last_char(key: str) -> str:
    last = key[-1]
    return key[:-1] + ("A" if last != "A" else "B")


def wait_until(deadline_epoch: float) -> None:
    while time.time() < deadline_epoch:
        time.sleep(min(0.2, max(0.0, deadline_epoch - time.time())))


# --------------------------------------------------------------------------------------------------
# Acceptance 1: the stock client, end to end, with a developer key
# --------------------------------------------------------------------------------------------------


def register_alias_and_load(models, name: str) -> None:
    mlflow.set_experiment(unique("keys-journey"))
    with mlflow.start_run():
        log_sklearn_model(models.a, "model", registered_model_name=name)
    client = mlflow.MlflowClient()
    [mv] = client.search_model_versions(f"name = '{name}'")
    client.set_registered_model_alias(name, "champion", mv.version)
    assert client.get_model_version_by_alias(name, "champion").version == mv.version
    got = predictions_of(f"models:/{name}@champion", models.X)
    np.testing.assert_array_equal(got, models.expected_a)


@pytest.mark.parametrize("how", ["token", "basic"])
def test_stock_client_registers_and_loads_a_model_with_a_developer_key(ks, models, monkeypatch, how):
    user = new_user("dev")
    key = ks.create_key(user, "developer")["api_key"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", ks.url)
    if how == "token":
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "anything")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", key)
    name = unique(f"keys-model-{how}")
    register_alias_and_load(models, name)

    # The same key through the other header spellings.
    for headers, kw in (({"X-API-Key": key}, {}), ({"Authorization": f"ApiKey {key}"}, {}),
                        ({}, {"auth": ("whoever", key)}), (as_key(key), {})):
        r = requests.get(url(ks, API_PREFIX + "/registered-models/get"), params={"name": name},
                         headers=headers, timeout=TIMEOUT, **kw)
        assert r.status_code == 200, (headers or "basic", r.status_code, r.text[:300])
        assert r.json()["registered_model"]["name"] == name

    # And the key is what let it in: without credentials the client is refused.
    for var in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(MlflowException) as excinfo:
        mlflow.MlflowClient().get_registered_model(name)
    assert excinfo.value.get_http_status_code() == 401 or excinfo.value.error_code == "UNAUTHENTICATED", \
        excinfo.value


# --------------------------------------------------------------------------------------------------
# 401: one body for every refused credential
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def refused(ks, tmp_path_factory) -> dict[str, str]:
    """Keys that must all be refused with the same 401: revoked, expired, IP-refused, unknown (a
    real key of another store)."""
    user = new_user("refused")
    expiry = math.ceil(time.time()) + 2  # a whole second, 2-3 s ahead
    expiring = ks.create_key(user, "reader", expires_at=rfc3339(expiry))
    revoked = ks.create_key(user, "reader")
    ok_json(v1(ks, "DELETE", f"/keys/{revoked['key_id']}", ks.admin_key))
    ip_refused = ks.create_key(user, "reader", allowed_ips=["10.9.9.9/32"])
    stranger = ServerProcess("hokusai", tmp_path_factory.mktemp("hokusai-other-store"), admin_key=False)
    unknown = stranger.cli_create_key(new_user("stranger"), template="reader")["api_key"]
    wait_until(expiry + 1)
    return {"revoked": revoked["api_key"], "expired": expiring["api_key"],
            "ip-refused": ip_refused["api_key"], "unknown": unknown}


CREDENTIAL_CASES = [
    "none", "malformed-bearer", "unknown-scheme", "bearer-empty", "basic-not-base64", "wrong-checksum",
    "unknown", "unknown-as-x-api-key", "unknown-as-basic", "revoked", "expired", "ip-refused",
]


def credential_headers(case: str, ks, refused) -> dict:
    if case == "none":
        return {}
    if case == "malformed-bearer":
        return {"Authorization": "Bearer not-a-key"}
    if case == "unknown-scheme":
        return {"Authorization": f"Digest {ks.admin_key}"}
    if case == "bearer-empty":
        return {"Authorization": "Bearer "}
    if case == "basic-not-base64":
        return {"Authorization": "Basic %%%"}
    if case == "wrong-checksum":
        return as_key(mutate_last_char(ks.admin_key))
    if case == "unknown-as-x-api-key":
        return {"X-API-Key": refused["unknown"]}
    if case == "unknown-as-basic":
        token = base64.b64encode(f"anyone:{refused['unknown']}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return as_key(refused[case])


@pytest.mark.parametrize("case", CREDENTIAL_CASES)
def test_every_refused_credential_gets_the_same_401(ks, refused, case):
    reference = probe(ks)
    ref_body = assert_unauthenticated(reference)
    resp = probe(ks, credential_headers(case, ks, refused))
    body = assert_unauthenticated(resp)
    assert body == ref_body, f"{case}: a different 401 body tells an attacker which case it hit"
    assert resp.headers["WWW-Authenticate"] == reference.headers["WWW-Authenticate"]


def test_controls_for_the_refused_cases(ks):
    """The same kinds of keys, minus the defect, work: the 401s above are about the defect."""
    user = new_user("control")
    in_range = ks.create_key(user, "reader", allowed_ips=["127.0.0.1/32"])
    not_expired = ks.create_key(user, "reader", expires_in_days=1)
    for key in (in_range["api_key"], not_expired["api_key"], ks.admin_key):
        assert probe(ks, as_key(key)).status_code == 200


def test_refused_on_writes_and_artifacts_too(ks, refused):
    name = unique("anon-write")
    r = requests.post(url(ks, API_PREFIX + "/experiments/create"), json={"name": name}, timeout=TIMEOUT)
    assert_unauthenticated(r)
    r = requests.put(url(ks, "/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/a.txt"), data=b"x",
                     headers=as_key(refused["revoked"]), timeout=TIMEOUT)
    assert_unauthenticated(r)
    assert ks.api().get("/experiments/get-by-name", {"experiment_name": name}).status_code == 404


def test_public_routes_need_no_key(ks):
    for path in ("/health", "/live", "/ready", "/version", "/api/v1/version", "/metrics"):
        r = requests.get(url(ks, path), timeout=TIMEOUT)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])


def test_key_in_the_query_string_is_refused(ks):
    throwaway = ks.create_key(new_user("url"), "reader")
    key = throwaway["api_key"]
    target = url(ks, API_PREFIX + "/experiments/get")
    for headers in ({}, as_key(ks.admin_key)):
        r = requests.get(target, params={"experiment_id": "0", "api_key": key}, headers=headers, timeout=TIMEOUT)
        assert r.status_code == 400, (headers and "with header", r.status_code, r.text[:300])
        assert r.json().get("error_code"), r.text
    # A key that travelled in a URL is burnt: revoke it, as an operator would.
    ok_json(v1(ks, "DELETE", f"/keys/{throwaway['key_id']}", ks.admin_key))


# --------------------------------------------------------------------------------------------------
# Acceptance 4: revocation, rotation, brute force, per-key rate limit
# --------------------------------------------------------------------------------------------------


def test_revocation_over_rest_is_effective_on_the_next_request(ks):
    user = new_user("revoke")
    by_admin = ks.create_key(user, "developer")
    by_owner = ks.create_key(user, "developer")
    for created, revoker in ((by_admin, ks.admin_key), (by_owner, by_owner["api_key"])):
        key = created["api_key"]
        assert probe(ks, as_key(key)).status_code == 200
        r = v1(ks, "DELETE", f"/keys/{created['key_id']}", revoker)
        assert r.status_code in (200, 204), r.text
        assert_unauthenticated(probe(ks, as_key(key)))
    shown = ok_json(v1(ks, "GET", f"/keys/{by_admin['key_id']}", ks.admin_key))
    assert shown["is_active"] is False and shown["revoked_at"], shown


def test_revocation_with_the_offline_cli_while_the_server_runs(ks):
    created = ks.create_key(new_user("cli-revoke"), "developer")
    key = created["api_key"]
    assert probe(ks, as_key(key)).status_code == 200  # known to the server (and any cache) first
    ks.keys_cli("revoke", created["key_id"])
    assert_unauthenticated(probe(ks, as_key(key)))


def test_rotation_without_overlap_retires_the_old_secret_at_once(ks):
    created = ks.create_key(new_user("rotate0"), "developer")
    old = created["api_key"]
    assert probe(ks, as_key(old)).status_code == 200
    rotated = ok_json(v1(ks, "POST", f"/keys/{created['key_id']}/rotate", old, json={"overlap_seconds": 0}))
    new = rotated["api_key"]
    assert KEY_SHAPE.fullmatch(new) and new != old
    assert_unauthenticated(probe(ks, as_key(old)))
    assert probe(ks, as_key(new)).status_code == 200
    assert is_developer(rotated["scopes"])  # same settings


def test_rotation_with_overlap_keeps_the_old_secret_until_the_overlap_ends(ks):
    overlap = 3
    created = ks.create_key(new_user("rotate-overlap"), "developer")
    old = created["api_key"]
    started = time.time()
    rotated = ok_json(v1(ks, "POST", f"/keys/{created['key_id']}/rotate", ks.admin_key,
                         json={"overlap_seconds": overlap}))
    new = rotated["api_key"]
    assert probe(ks, as_key(old)).status_code == 200, "the old secret must work during the overlap"
    assert probe(ks, as_key(new)).status_code == 200
    wait_until(started + overlap + 1.5)
    assert_unauthenticated(probe(ks, as_key(old)))
    assert probe(ks, as_key(new)).status_code == 200


def test_rotation_with_the_offline_cli(ks):
    created = ks.create_key(new_user("cli-rotate"), "developer")
    old = created["api_key"]
    rotated = ks.keys_cli_json("rotate", created["key_id"], "--overlap-seconds", "0")
    new = rotated["api_key"]
    assert KEY_SHAPE.fullmatch(new) and new != old
    assert_unauthenticated(probe(ks, as_key(old)))
    assert probe(ks, as_key(new)).status_code == 200


def random_key_shaped() -> str:
    """hk_live_ + 46 base62 characters: the right shape, (almost surely) a wrong checksum."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "hk_live_" + "".join(alphabet[b % 62] for b in os.urandom(46))


def test_brute_force_on_validate_is_rate_limited_per_address(fresh_server):
    srv = fresh_server("hokusai")  # its own limiter state, at the default limit
    statuses, limited = [], None
    for i in range(200):
        guess = random_key_shaped() if i % 2 else unique("guess")
        r = requests.post(url(srv, V1 + "/keys/validate"), json={"api_key": guess}, timeout=TIMEOUT)
        statuses.append(r.status_code)
        if r.status_code == 429:
            limited = r
            break
        assert r.status_code == 401, (i, r.status_code, r.text[:300])
    assert limited is not None, f"200 bad keys in a row were never limited: {statuses[-5:]}"
    assert statuses[0] == 401
    retry_after = limited.headers.get("Retry-After")
    assert retry_after and retry_after.isdigit() and int(retry_after) > 0, dict(limited.headers)
    assert limited.json().get("error_code"), limited.text
    # Another bad key right away is still limited (the 429 was not a one-off).
    r = requests.post(url(srv, V1 + "/keys/validate"), json={"api_key": "hk_live_nope"}, timeout=TIMEOUT)
    assert r.status_code == 429, r.status_code


def test_per_key_rate_limit(ks):
    created = ks.create_key(new_user("limited"), "reader", rate_limit_per_hour=5)
    key = created["api_key"]
    for i in range(5):
        r = probe(ks, as_key(key))
        assert r.status_code == 200, (i, r.status_code, r.text[:300])
    r = probe(ks, as_key(key))
    assert r.status_code == 429, (r.status_code, r.text[:300])
    assert r.json().get("error_code"), r.text
    h = r.headers
    assert h.get("Retry-After", "").isdigit() and int(h["Retry-After"]) > 0, dict(h)
    assert h.get("RateLimit-Limit") == "5", dict(h)
    assert h.get("RateLimit-Remaining") == "0", dict(h)
    assert h.get("RateLimit-Reset", "").isdigit(), dict(h)
    assert probe(ks, as_key(ks.admin_key)).status_code == 200  # other keys are unaffected


# --------------------------------------------------------------------------------------------------
# Key management: whoami, listing, what a developer may create, scopes
# --------------------------------------------------------------------------------------------------


def test_whoami_describes_the_principal_and_never_the_secret(ks):
    user = new_user("who")
    created = ks.create_key(user, "developer", rate_limit_per_hour=1000)
    key = created["api_key"]
    r = v1(ks, "GET", "/whoami", key)
    me = ok_json(r)
    assert key not in r.text and not KEY_SHAPE.search(r.text), "whoami echoed a secret"
    assert me["user_id"] == user, me
    assert me["key_id"] == created["key_id"], me
    assert me["key_prefix"] == created["key_prefix"] and key.startswith(me["key_prefix"]), me
    assert is_developer(me["scopes"]), me
    assert isinstance(me["roles"], list), me
    assert me["is_admin"] is False, me
    assert "expires_at" in me, me
    assert me["rate_limit_per_hour"] == 1000, me
    assert isinstance(me["rate_limit_remaining"], int) and 0 <= me["rate_limit_remaining"] <= 1000, me
    assert me["tracking_uri"] == ks.url and f"export MLFLOW_TRACKING_URI={ks.url}" in me["environment_lines"], me
    admin = ok_json(v1(ks, "GET", "/whoami", ks.admin_key))
    assert admin["is_admin"] is True and admin["key_id"] == ks.admin_key_id, admin


def test_key_listings_never_show_a_secret(ks):
    user = new_user("lister")
    mine = ks.create_key(user, "developer")
    other = ks.create_key(new_user("other"), "reader")
    r = v1(ks, "GET", "/keys", ks.admin_key)
    listed = keys_of(ok_json(r))
    assert not KEY_SHAPE.search(r.text), "GET /api/v1/keys printed a secret"
    by_id = {k["key_id"]: k for k in listed}
    assert {mine["key_id"], other["key_id"], ks.admin_key_id} <= set(by_id)
    entry = by_id[mine["key_id"]]
    assert LIST_FIELDS <= set(entry), sorted(set(entry))
    assert "api_key" not in entry and entry["key_prefix"] == mine["key_prefix"]
    assert entry["is_active"] is True and entry["revoked_at"] is None

    # A user sees their own keys only.
    r = v1(ks, "GET", "/keys", mine["api_key"])
    own = {k["key_id"] for k in keys_of(ok_json(r))}
    assert mine["key_id"] in own and other["key_id"] not in own and ks.admin_key_id not in own
    assert not KEY_SHAPE.search(r.text)
    one = v1(ks, "GET", f"/keys/{mine['key_id']}", mine["api_key"])
    assert ok_json(one)["key_id"] == mine["key_id"] and not KEY_SHAPE.search(one.text)
    assert v1(ks, "GET", f"/keys/{other['key_id']}", mine["api_key"]).status_code in (403, 404)

    # The offline listing, too.
    out = ks.keys_cli("list", "--user", user, "--json").stdout.decode()
    assert not KEY_SHAPE.search(out), "`keys list` printed a secret"
    assert {k["key_id"] for k in json.loads(out)} == {mine["key_id"]}
    everything = ks.keys_cli("list", "--json").stdout.decode()
    assert not KEY_SHAPE.search(everything)
    assert {mine["key_id"], other["key_id"], ks.admin_key_id} <= {k["key_id"] for k in json.loads(everything)}


def test_offline_create_prints_one_json_object_and_the_key_works(ks):
    user = new_user("offline")
    created = ks.cli_create_key(user, template="reader", email=f"{user}@example.invalid", environment="test",
                                expires_in_days=2, rate_limit_per_hour=77)
    assert {"api_key", "key_id", "key_prefix", "user_id", "scopes"} <= set(created), created
    assert created["api_key"].startswith("hk_test_") and created["user_id"] == user
    assert set(created["scopes"]) == READER
    me = ok_json(v1(ks, "GET", "/whoami", created["api_key"]))
    assert me["user_id"] == user and me["rate_limit_per_hour"] == 77


def test_developer_template_lists_reader_scopes_too(ks):
    """Contract: developer = reader (experiment:read, model:read) + experiment:write + model:write.
    Consumers of validate/whoami test for a scope by name, so the reads must be listed."""
    created = ks.create_key(new_user("dev-scopes"), "developer")
    me = ok_json(v1(ks, "GET", "/whoami", created["api_key"]))
    checked = ok_json(validate(ks, {"api_key": created["api_key"]}))
    for where, scopes in (("create", created["scopes"]), ("whoami", me["scopes"]), ("validate", checked["scopes"])):
        assert set(scopes) == DEVELOPER, f"{where}: {sorted(scopes)}"


ESCALATIONS = [{"name": "x", "scopes": ["admin"]}, {"name": "x", "template": "admin"},
               {"name": "x", "template": "reader", "user_id": "victim-of-escalation"},
               {"name": "x", "template": "reader", "user_id": ADMIN_USER}]


def test_developer_cannot_escalate(ks):
    user = new_user("dev")
    dev = ks.create_key(user, "developer")["api_key"]
    for body in ESCALATIONS:
        r = v1(ks, "POST", "/keys", dev, json=body)
        assert_denied(r)
        assert "api_key" not in r.text
    # Within its own rights it may create a key for itself.
    r = v1(ks, "POST", "/keys", dev, json={"name": "mine", "template": "reader"})
    reader = ok_json(r, 201)
    assert set(reader["scopes"]) == READER
    me = ok_json(v1(ks, "GET", "/whoami", reader["api_key"]))
    assert me["user_id"] == user


def test_reader_key_cannot_write_and_the_403_names_the_scope(ks):
    reader = ks.create_key(new_user("reader"), "reader")
    name = unique("reader-write")
    r = requests.post(url(ks, API_PREFIX + "/experiments/create"), json={"name": name},
                      headers=as_key(reader["api_key"]), timeout=TIMEOUT)
    body = assert_denied(r)
    assert body["required_scope"] == "experiment:write", body
    assert isinstance(body["key_scopes"], list) and set(body["key_scopes"]) == READER, body
    assert ks.api().get("/experiments/get-by-name", {"experiment_name": name}).status_code == 404
    assert probe(ks, as_key(reader["api_key"])).status_code == 200  # reading is fine


def test_every_403_has_the_contract_body(ks):
    """Scope denials (route, admin endpoint, key escalation) and permission denials alike."""
    owner = ks.create_key(new_user("owner"), "developer")["api_key"]
    other = ks.create_key(new_user("other-dev"), "developer")["api_key"]
    reader = ks.create_key(new_user("reader"), "reader")["api_key"]
    exp_id = ok_json(requests.post(url(ks, API_PREFIX + "/experiments/create"), json={"name": unique("owned")},
                                   headers=as_key(owner), timeout=TIMEOUT))["experiment_id"]
    cases = {
        "reader writes": requests.post(url(ks, API_PREFIX + "/experiments/create"),
                                       json={"name": unique("x")}, headers=as_key(reader), timeout=TIMEOUT),
        "developer reads the audit": v1(ks, "GET", "/audit", other),
        "developer escalates": v1(ks, "POST", "/keys", other, json=ESCALATIONS[0]),
        "developer creates for another user": v1(ks, "POST", "/keys", other, json=ESCALATIONS[2]),
        "not the owner (READ) renames": requests.post(
            url(ks, API_PREFIX + "/experiments/update"), json={"experiment_id": exp_id, "new_name": unique("y")},
            headers=as_key(other), timeout=TIMEOUT),
    }
    problems = {}
    for case, resp in cases.items():
        body = assert_denied(resp)
        if denial_body_problems(body):
            problems[case] = (denial_body_problems(body), body)
    assert not problems, json.dumps(problems, indent=1)


def test_admin_only_endpoints_refuse_a_developer(ks):
    dev = ks.create_key(new_user("dev"), "developer")["api_key"]
    for path in ("/audit", "/routes"):
        assert_denied(v1(ks, "GET", path, dev))


def test_route_table_declares_every_route(ks):
    r = ok_json(v1(ks, "GET", "/routes", ks.admin_key))
    routes = r["routes"]
    assert routes
    for route in routes:
        assert {"method", "path", "operation", "resource"} <= set(route), route
        assert route["operation"], route
    paths = {(x["method"], x["path"]) for x in routes}
    assert ("POST", "/api/v1/keys") in paths, sorted(paths)[:20]
    assert any(p.endswith("/experiments/create") for _, p in paths)


# --------------------------------------------------------------------------------------------------
# POST /api/v1/keys/validate (the auth-service contract)
# --------------------------------------------------------------------------------------------------


def validate(srv, body: dict | None, key: str | None = None) -> requests.Response:
    return requests.post(url(srv, V1 + "/keys/validate"), json=body or {}, headers=auth_headers(key),
                         timeout=TIMEOUT)


def check_validate_body(v: dict, user: str, created: dict) -> None:
    assert VALIDATE_FIELDS <= set(v), sorted(VALIDATE_FIELDS - set(v))
    assert v["user_id"] == user and v["key_id"] == created["key_id"], v
    assert is_developer(v["scopes"]) and isinstance(v["scopes"], list), v
    assert isinstance(v["roles"], list) and v["is_admin"] is False, v
    assert isinstance(v["rate_limit_per_hour"], int) and not isinstance(v["rate_limit_per_hour"], bool), v
    assert isinstance(v["has_sufficient_balance"], bool), v
    assert isinstance(v["balance"], (int, float)) and not isinstance(v["balance"], bool), v
    assert v["expires_at"] is None or isinstance(v["expires_at"], str), v
    assert v["user"]["id"] == user and v["user"]["is_admin"] is False, v
    assert {"id", "email", "roles", "is_admin"} <= set(v["user"]), v
    assert created["api_key"] not in json.dumps(v)


def test_validate_accepts_both_request_shapes(ks):
    user = new_user("svc-user")
    created = ks.create_key(user, "developer", expires_in_days=3)
    key = created["api_key"]
    by_header = ok_json(validate(ks, {"service_id": "itest-svc", "client_ip": "127.0.0.1"}, key))
    check_validate_body(by_header, user, created)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", by_header["expires_at"]), by_header["expires_at"]
    by_body = ok_json(validate(ks, {"api_key": key, "service_id": "itest-svc"}))
    check_validate_body(by_body, user, created)
    assert {k: by_body[k] for k in VALIDATE_FIELDS} == {k: by_header[k] for k in VALIDATE_FIELDS}
    both_same = validate(ks, {"api_key": key}, key)
    assert both_same.status_code == 200, both_same.text


def test_validate_with_two_different_keys_is_400(ks):
    a = ks.create_key(new_user("a"), "reader")["api_key"]
    b = ks.create_key(new_user("b"), "reader")["api_key"]
    r = validate(ks, {"api_key": b}, a)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert r.json().get("error_code"), r.text


def test_validate_refuses_unknown_revoked_and_malformed_keys_alike(ks, refused):
    bodies = set()
    for case in ("unknown", "revoked", "expired", "ip-refused"):
        bodies.add(assert_unauthenticated(validate(ks, {"api_key": refused[case]}), www_authenticate=False))
        bodies.add(assert_unauthenticated(validate(ks, {}, refused[case]), www_authenticate=False))
    bodies.add(assert_unauthenticated(validate(ks, {"api_key": "hk_live_short"}), www_authenticate=False))
    bodies.add(assert_unauthenticated(validate(ks, {"api_key": mutate_last_char(ks.admin_key)}),
                                      www_authenticate=False))
    assert len(bodies) == 1, bodies
    assert bodies == {assert_unauthenticated(probe(ks))}, "validate's 401 differs from the gate's"


def test_validate_checks_client_ip_against_the_allow_list(ks):
    user = new_user("ip")
    created = ks.create_key(user, "reader", allowed_ips=["10.9.9.9/32"])
    key = created["api_key"]
    assert ok_json(validate(ks, {"api_key": key, "client_ip": "10.9.9.9"}))["key_id"] == created["key_id"]
    assert_unauthenticated(validate(ks, {"api_key": key, "client_ip": "10.9.9.8"}), www_authenticate=False)


# --------------------------------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------------------------------


def test_audit_lists_writes_and_denials_with_who_and_which_key(ks):
    dev_user, reader_user = new_user("aud-dev"), new_user("aud-reader")
    dev = ks.create_key(dev_user, "developer")
    reader = ks.create_key(reader_user, "reader")
    name = unique("audited")
    r = requests.post(url(ks, API_PREFIX + "/experiments/create"), json={"name": name},
                      headers=as_key(dev["api_key"]), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert_denied(requests.post(url(ks, API_PREFIX + "/experiments/create"), json={"name": unique("no")},
                                headers=as_key(reader["api_key"]), timeout=TIMEOUT))

    def find(entries, key_id, status):
        return [e for e in entries if e.get("key_id") == key_id and e.get("status") == status
                and "experiments/create" in (e.get("route") or "")]

    deadline = time.monotonic() + 15  # the audit sink may write asynchronously
    while True:
        resp = v1(ks, "GET", "/audit", ks.admin_key)
        entries = ok_json(resp)["entries"]
        wrote, denied = find(entries, dev["key_id"], 200), find(entries, reader["key_id"], 403)
        if (wrote and denied) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert wrote, f"no audit entry for the developer's write among {len(entries)}: {entries[-5:]}"
    assert denied, f"no audit entry for the reader's denied write among {len(entries)}: {entries[-5:]}"
    for entry in (wrote[0], denied[0]):
        assert AUDIT_FIELDS <= set(entry), sorted(AUDIT_FIELDS - set(entry))
        assert entry["method"] == "POST" and entry["client_address"] == "127.0.0.1", entry
    assert wrote[0]["user_id"] == dev_user and wrote[0]["outcome"] == "allowed", wrote[0]
    assert denied[0]["user_id"] == reader_user and denied[0]["outcome"] == "denied", denied[0]
    assert not KEY_SHAPE.search(resp.text), "the audit log holds a secret"


# --------------------------------------------------------------------------------------------------
# First start
# --------------------------------------------------------------------------------------------------

BANNER_TOKEN = re.compile(r"export MLFLOW_TRACKING_TOKEN=(hk_live_[0-9A-Za-z]{46})\b")
BANNER_URI = re.compile(r"export MLFLOW_TRACKING_URI=(\S+)")


def generation_text(srv, generation: int) -> str:
    """The part of the server's log written by its `generation`-th start."""
    text = srv.log_path.read_text(errors="replace")
    parts = re.split(r"^===== start #(\d+): .*$", text, flags=re.M)
    chunks = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    return chunks.get(generation, "")


def test_first_start_on_an_empty_store_prints_an_admin_key_once(fresh_server):
    srv = fresh_server("hokusai", admin_key=False)
    deadline = time.monotonic() + 10  # stdout is a file here: the banner must still be flushed
    while not BANNER_TOKEN.search(generation_text(srv, 1)) and time.monotonic() < deadline:
        time.sleep(0.1)
    first = generation_text(srv, 1)
    tokens = BANNER_TOKEN.findall(first)
    assert len(tokens) == 1, f"expected one banner token on the first start's stdout:\n{first[-3000:]}"
    key = register_secret(tokens[0], "first-start banner (test_keys)")
    [line] = [ln for ln in first.splitlines() if key in ln]
    # The one place a secret may appear in a log: this banner line, once, in this server's log.
    allow_in_log(srv.log_path, key, line, count=1, reason="first-start banner shows the admin key once")
    assert BANNER_URI.findall(first) == [srv.url], first[-3000:]

    me = ok_json(v1(srv, "GET", "/whoami", key))
    assert me["is_admin"] is True, me
    assert probe(srv, as_key(key)).status_code == 200

    assert srv.stop() == 0
    srv.start()
    assert probe(srv, as_key(key)).status_code == 200  # the minted key survives the restart
    assert srv.stop() == 0  # flushes everything the second start wrote
    second = generation_text(srv, 2)
    assert second.strip(), "no log from the second start"
    assert "MLFLOW_TRACKING_TOKEN" not in second and not KEY_SHAPE.search(second), second[-3000:]


def test_no_banner_when_a_key_exists_before_the_first_start(ks):
    text = ks.log_path.read_text(errors="replace")
    assert "MLFLOW_TRACKING_TOKEN" not in text and not KEY_SHAPE.search(text), text[-3000:]
