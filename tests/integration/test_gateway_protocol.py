"""Gateway mode against a recording upstream (security principle 12): what the upstream receives.

`RecordingUpstream` (recording_upstream.py) records every request byte for byte. Three gateways
stand in front of three of them:

- `gwr`: `--upstream-token` (Authorization: Bearer to the upstream), path style `api`;
- `gwx`: `--upstream-path-style ajax-api`, `--upstream-username/--upstream-password` (Basic);
- `gwp`: no upstream credentials at all.

Proved here: the client's key never reaches the upstream, in any of the four credential forms, and
the configured credential does instead; X-Hokusai-User-Id / X-Hokusai-API-Key-Id are the gateway's
(spoofed copies never arrive); hop-by-hop headers are dropped; X-Forwarded-* are the gateway's;
the body is forwarded byte for byte; the path is the one canonical path in the configured style,
whatever mount prefix the client used; the query arrives decoded and re-encoded with the same
meaning; redirects are not followed. Then request smuggling and header injection with raw sockets
(the style of test_http_protocol.py): ambiguous framing, duplicate lengths, obs-fold, CR/LF/NUL in
header values, ambiguous paths and pipelining behind a refused request — each 400 (or otherwise
refused) with nothing reaching the upstream.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import string
import urllib.parse

import pytest
import requests

from itest_helpers import (
    ADMIN_USER,
    API_PREFIX,
    ServerProcess,
    auth_line,
    raw_exchange,
    raw_get,
    raw_request,
    read_response,
    register_secret,
    unique,
)
from recording_upstream import RecordingUpstream

pytestmark = pytest.mark.hokusai_only  # the Hokusai binary in gateway mode

ART = "/api/2.0/mlflow-artifacts/artifacts"
TIMEOUT = 30
UPSTREAM_TOKEN = register_secret("gw-upstream-token-" + "7f3a9c2e5b8d4f1a6c0e9b7d3a5f8c2e", "itest upstream token")
UPSTREAM_USER, UPSTREAM_PASSWORD = "gw-upstream-user", register_secret(
    "gw-upstream-password-" + "c4e8a1f7b3d9", "itest upstream password")
UPSTREAM_BASIC = "Basic " + base64.b64encode(f"{UPSTREAM_USER}:{UPSTREAM_PASSWORD}".encode()).decode()
RUN = "0123456789abcdef0123456789abcdef"
MOUNTS = ["/api", "/ajax-api", "/mlflow/api", "/api/mlflow/api", "/mlflow/ajax-api", "/api/mlflow/ajax-api"]
HOP_BY_HOP = ("keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate",
              "proxy-connection", "transfer-encoding")


# --------------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------------


class Pair:
    def __init__(self, gw: ServerProcess, up: RecordingUpstream, style: str):
        self.gw, self.up, self.style = gw, up, style

    def canonical(self, rest: str) -> str:
        """The upstream path for an MLflow route `rest` (e.g. "/2.0/mlflow/experiments/get")."""
        return f"/{self.style}{rest}"


def _pair(tmp_path_factory, name: str, style: str, upstream_args: list[str], redact=()) -> Pair:
    up = RecordingUpstream(unique(name), redact=redact).start()
    gw = ServerProcess("gateway", tmp_path_factory.mktemp(name), upstream=up.url, upstream_args=upstream_args)
    gw.start()
    return Pair(gw, up, style)


def _stop(pair: Pair) -> None:
    try:
        pair.gw.stop_gracefully_or_fail()
    finally:
        pair.up.stop()


@pytest.fixture(scope="module")
def gwr(tmp_path_factory):
    pair = _pair(tmp_path_factory, "gw-rec-token", "api", ["--upstream-token", UPSTREAM_TOKEN],
                 redact=(UPSTREAM_TOKEN,))
    yield pair
    _stop(pair)


@pytest.fixture(scope="module")
def gwx(tmp_path_factory):
    pair = _pair(tmp_path_factory, "gw-rec-ajax", "ajax-api",
                 ["--upstream-path-style", "ajax-api", "--upstream-username", UPSTREAM_USER,
                  "--upstream-password", UPSTREAM_PASSWORD],
                 redact=(UPSTREAM_BASIC.split(" ", 1)[1], UPSTREAM_PASSWORD))
    yield pair
    _stop(pair)


@pytest.fixture(scope="module")
def gwp(tmp_path_factory):
    pair = _pair(tmp_path_factory, "gw-rec-plain", "api", [])
    yield pair
    _stop(pair)


@pytest.fixture(autouse=True)
def _fresh_recordings(request):
    """Each test starts with empty recordings and the canned answers."""
    for name in ("gwr", "gwx", "gwp"):
        if name in request.fixturenames:
            request.getfixturevalue(name).up.reset()
    yield


def credential_headers(form: str, key: str, user: str = ADMIN_USER) -> dict[str, str]:
    """The four ways a client may present a key (docs/keys.md)."""
    if form == "bearer":
        return {"Authorization": f"Bearer {key}"}
    if form == "basic":
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}
    if form == "x-api-key":
        return {"X-API-Key": key}
    if form == "apikey":
        return {"Authorization": f"ApiKey {key}"}
    raise AssertionError(form)


FORMS = ["bearer", "basic", "x-api-key", "apikey"]


def only(recorded, what: str):
    assert len(recorded) == 1, f"{what}: the upstream got {len(recorded)} matching requests: " + "; ".join(
        r.describe() for r in recorded)
    return recorded[0]


def own_lookup(rec) -> bool:
    """A call the gateway makes on its own behalf (resolving a run's or a name's experiment before
    authorizing, health probes): its User-Agent is the gateway's. Such calls are not forwarded
    client requests; they are still checked for client credentials (`secret_free`)."""
    return any(v.startswith("hokusai-registry") for v in rec.headers("user-agent"))


def forwarded(pair: Pair, rest: str, method: str | None = None):
    """The single forwarded client request the upstream got for MLflow route `rest`, in the
    pair's style (the gateway's own lookups aside)."""
    path = pair.canonical(rest)

    def hits(rs):
        return [r for r in rs if r.path == path and (method is None or r.method == method) and not own_lookup(r)]

    got = pair.up.wait_for(lambda rs: bool(hits(rs)), timeout=5)
    return only(hits(got), f"{method or ''} {path}")


def secret_free(pair: Pair, *secrets: str) -> None:
    """No recorded request (line, headers or body) holds any of `secrets`, nor the random part of one."""
    for rec in pair.up.snapshot():
        blob = rec.everything()
        for secret in secrets:
            needles = [secret, secret.split("_", 2)[-1][:40]]
            needles.append(base64.b64encode(secret.encode()).decode()[:40])
            for needle in needles:
                assert needle.encode() not in blob, f"a client credential reached the upstream: {rec.describe()[:300]}"


# --------------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_client_key_never_reaches_upstream_and_the_configured_token_does(gwr, form):
    gw = gwr.gw
    headers = credential_headers(form, gw.admin_key)
    r = requests.get(gw.url + API_PREFIX + "/experiments/get", params={"experiment_id": "0"}, headers=headers,
                     timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["experiment"]["experiment_id"] == "0"
    name = unique("cred")
    r = requests.post(gw.url + API_PREFIX + "/experiments/create", json={"name": name}, headers=headers,
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    for rest, method in (("/2.0/mlflow/experiments/get", "GET"), ("/2.0/mlflow/experiments/create", "POST")):
        rec = forwarded(gwr, rest, method)
        assert rec.headers("authorization") == [f"Bearer {UPSTREAM_TOKEN}"], rec.describe()
        assert rec.headers("x-api-key") == [], rec.describe()
    secret_free(gwr, gw.admin_key)


@pytest.mark.parametrize("form", FORMS)
def test_developer_key_in_every_form_is_replaced_by_basic_upstream_credentials(gwx, form):
    gw = gwx.gw
    dev = gw.create_key(unique("gw-cred-dev"), template="developer")
    headers = credential_headers(form, dev["api_key"], user=dev.get("user_id", "dev"))
    r = requests.post(gw.url + "/ajax-api/2.0/mlflow/experiments/create", json={"name": unique("basic")},
                      headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    rec = forwarded(gwx, "/2.0/mlflow/experiments/create", "POST")
    assert rec.headers("authorization") == [UPSTREAM_BASIC], rec.describe()
    assert rec.headers("x-api-key") == []
    secret_free(gwx, dev["api_key"])


def test_without_configured_credentials_no_authorization_reaches_upstream(gwp):
    gw = gwp.gw
    for form in FORMS:
        r = requests.get(gw.url + API_PREFIX + "/experiments/get", params={"experiment_id": "0"},
                         headers={**credential_headers(form, gw.admin_key), "X-Form": form}, timeout=TIMEOUT)
        assert r.status_code == 200, (form, r.text)
    recs = [r for r in gwp.up.matching("/experiments/get")
            if r.path == API_PREFIX + "/experiments/get" and not own_lookup(r)]
    assert len(recs) == len(FORMS), [r.describe() for r in recs]
    for rec in recs:
        assert rec.headers("authorization") == [] and rec.headers("x-api-key") == [], rec.describe()
    secret_free(gwp, gw.admin_key)


def test_stock_client_with_token_and_basic_never_leaks_the_key(gwr, monkeypatch):
    import mlflow

    gw = gwr.gw
    for env in ({"MLFLOW_TRACKING_TOKEN": gw.admin_key},
                {"MLFLOW_TRACKING_USERNAME": ADMIN_USER, "MLFLOW_TRACKING_PASSWORD": gw.admin_key}):
        with monkeypatch.context() as mp:
            for k in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
                mp.delenv(k, raising=False)
            for k, v in env.items():
                mp.setenv(k, v)
            client = mlflow.MlflowClient(tracking_uri=gw.url)
            assert client.get_experiment("0").experiment_id == "0"
            client.create_experiment(unique("stock-cred"))
    assert gwr.up.matching("/experiments/create"), "nothing reached the upstream"
    for rec in gwr.up.snapshot():
        if rec.path.startswith("/api/"):
            assert rec.headers("authorization") == [f"Bearer {UPSTREAM_TOKEN}"], rec.describe()
    secret_free(gwr, gw.admin_key)


# --------------------------------------------------------------------------------------------------
# Identity and forwarding headers
# --------------------------------------------------------------------------------------------------


SPOOFS = {
    "X-Hokusai-User-Id": "spoofed-user-root",
    "x-hokusai-user-id": "spoofed-user-other",
    "X-Hokusai-API-Key-Id": "spoofed-key-id",
    "X-HOKUSAI-API-KEY-ID": "spoofed-key-id-2",
}


def test_identity_headers_are_the_gateways_and_spoofed_copies_never_arrive(gwr):
    gw = gwr.gw
    lines = "".join(f"{k}: {v}\r\n" for k, v in SPOOFS.items())
    req = (f"GET {API_PREFIX}/experiments/get?experiment_id=0 HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n"
           f"{auth_line(gw.port)}{lines}Connection: close\r\n\r\n").encode()
    resp = raw_exchange(gw.port, req)
    assert resp.status == 200, (resp.status, resp.body[:300])
    rec = forwarded(gwr, "/2.0/mlflow/experiments/get", "GET")
    assert rec.headers("x-hokusai-user-id") == [ADMIN_USER], rec.describe()
    assert rec.headers("x-hokusai-api-key-id") == [gw.admin_key_id], rec.describe()
    for value in SPOOFS.values():
        assert value.encode() not in rec.everything(), f"spoofed {value!r} reached the upstream: {rec.describe()}"

    # A developer's identity is its own.
    user = unique("gw-ident")
    dev = gw.create_key(user, template="developer")
    r = requests.post(gw.url + API_PREFIX + "/experiments/create", json={"name": unique("ident")},
                      headers={"Authorization": f"Bearer {dev['api_key']}", **SPOOFS}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    rec = forwarded(gwr, "/2.0/mlflow/experiments/create", "POST")
    assert rec.headers("x-hokusai-user-id") == [user], rec.describe()
    assert rec.headers("x-hokusai-api-key-id") == [dev["key_id"]], rec.describe()
    assert b"spoofed" not in rec.everything(), rec.describe()


def test_hop_by_hop_headers_are_dropped(gwr):
    gw = gwr.gw
    req = (f"GET {API_PREFIX}/experiments/get?experiment_id=0 HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n"
           f"{auth_line(gw.port)}"
           "Connection: close, Foo, X-Drop-Me\r\n"
           "Foo: bar\r\n"
           "X-Drop-Me: 1\r\n"
           "Keep-Alive: timeout=5, max=100\r\n"
           "TE: trailers\r\n"
           "Upgrade: websocket\r\n"
           "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
           "Proxy-Connection: keep-alive\r\n"
           "Trailer: X-Checksum\r\n"
           "\r\n").encode()
    resp = raw_exchange(gw.port, req)
    assert resp.status == 200, (resp.status, resp.body[:300])
    rec = forwarded(gwr, "/2.0/mlflow/experiments/get", "GET")
    names = rec.names()
    leaked = sorted(names & {"foo", "x-drop-me", *HOP_BY_HOP})
    assert not leaked, f"hop-by-hop headers reached the upstream: {leaked}; {rec.describe()}"
    for value in rec.headers("connection"):
        tokens = {t.strip().lower() for t in value.split(",")}
        assert tokens <= {"keep-alive", "close"}, f"the client's Connection tokens were forwarded: {value!r}"
    assert b"Zm9vOmJhcg==" not in rec.everything()


FORWARDED_SPOOFS = {
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Real-IP": "6.6.6.7",
    "Forwarded": "for=6.6.6.8;proto=https;host=evil2.example",
}


def test_x_forwarded_headers_are_the_gateways(gwr):
    gw = gwr.gw
    host = f"127.0.0.1:{gw.port}"
    r = requests.get(gw.url + API_PREFIX + "/experiments/get", params={"experiment_id": "0"},
                     headers={**gw.auth_headers(), **FORWARDED_SPOOFS}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    rec = forwarded(gwr, "/2.0/mlflow/experiments/get", "GET")
    assert rec.headers("x-forwarded-for") == ["127.0.0.1"], rec.describe()
    assert rec.headers("x-forwarded-proto") == ["http"], rec.describe()
    assert rec.headers("x-forwarded-host") == [host], rec.describe()
    blob = rec.everything()
    for spoof in ("6.6.6.6", "6.6.6.7", "6.6.6.8", "evil.example", "evil2.example"):
        assert spoof.encode() not in blob, f"client-sent {spoof} reached the upstream: {rec.describe()}"


# --------------------------------------------------------------------------------------------------
# Body, path and query
# --------------------------------------------------------------------------------------------------


ODD_JSON = ('{ "name" :"gw-body-\\u00e9\\u65e5 \\"q\\" \\/ %s",\n\t"tags": [ {"key":"k","value":"v"} ] ,'
            '"unknown_field": {"nested": [1, 2.50, -0.0, 1e3, null, true]}   }')


def test_json_body_is_forwarded_byte_for_byte(gwr):
    gw = gwr.gw
    body = (ODD_JSON % unique("x")).encode()
    r = requests.post(gw.url + API_PREFIX + "/experiments/create", data=body,
                      headers={**gw.auth_headers(), "Content-Type": "application/json"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    rec = forwarded(gwr, "/2.0/mlflow/experiments/create", "POST")
    assert rec.body == body, (rec.body, body)
    assert rec.header("content-type") == "application/json", rec.describe()
    if rec.framing == "content-length":
        assert rec.header("content-length") == str(len(body))


def test_chunked_client_body_is_forwarded_byte_for_byte(gwr):
    gw = gwr.gw
    body = (ODD_JSON % unique("chunked")).encode()
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    req = (f"POST {API_PREFIX}/experiments/create HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n{auth_line(gw.port)}"
           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    resp = raw_exchange(gw.port, req + chunked)
    assert resp.status == 200, (resp.status, resp.body[:300])
    rec = forwarded(gwr, "/2.0/mlflow/experiments/create", "POST")
    assert rec.body == body


def test_binary_artifact_body_is_forwarded_byte_for_byte(gwr):
    gw = gwr.gw
    blob = bytes(range(256)) * 4096 + b"\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"  # 1 MiB and a fake request
    path = f"{ART}/0/{RUN}/artifacts/blob.bin"
    r = gw.http.put(gw.url + path, data=blob, headers={"Content-Type": "application/octet-stream"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    rec = forwarded(gwr, f"/2.0/mlflow-artifacts/artifacts/0/{RUN}/artifacts/blob.bin", "PUT")
    assert rec.body == blob
    assert not [x for x in gwr.up.snapshot() if x.path == "/"], "the body was parsed as a request"


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("which", ["gwr", "gwx"])
def test_path_is_the_canonical_one_in_the_configured_style(request, which, mount):
    pair = request.getfixturevalue(which)
    # Fetched by name, the pair is not among the test's fixtures, so _fresh_recordings did not
    # reset it; when this test is the first to use it, the recordings hold its set-up's requests.
    pair.up.reset()
    gw = pair.gw
    resp = raw_get(gw.port, f"{mount}/2.0/mlflow/experiments/get?experiment_id=0")
    assert resp.status == 200, (mount, resp.status, resp.body[:300])
    rec = forwarded(pair, "/2.0/mlflow/experiments/get", "GET")
    assert rec.target == pair.canonical("/2.0/mlflow/experiments/get") + "?experiment_id=0", rec.target
    pair.up.reset()
    art = f"{mount}/2.0/mlflow-artifacts/artifacts/0/{RUN}/artifacts/dir/f.txt"
    resp = raw_get(gw.port, art)
    assert resp.status == 200, (art, resp.status, resp.body[:300])
    rec = forwarded(pair, f"/2.0/mlflow-artifacts/artifacts/0/{RUN}/artifacts/dir/f.txt", "GET")
    assert rec.path == pair.canonical(f"/2.0/mlflow-artifacts/artifacts/0/{RUN}/artifacts/dir/f.txt"), rec.target


def test_encoded_ordinary_characters_are_forwarded_decoded(gwr):
    gw = gwr.gw
    resp = raw_get(gw.port, "/api/2.0/mlflow/%65xperiments/g%65t?experiment_id=0")
    assert resp.status == 200, (resp.status, resp.body[:300])
    rec = forwarded(gwr, "/2.0/mlflow/experiments/get", "GET")
    assert rec.path == "/api/2.0/mlflow/experiments/get"


UNRESERVED = set(string.ascii_letters + string.digits + "-._~")


def assert_reencoded(raw_query: str) -> None:
    """Every byte is unreserved, a %XX escape, or a separator: nothing raw reaches the upstream."""
    stripped = re.sub(r"%[0-9A-Fa-f]{2}", "", raw_query)
    bad = sorted(set(stripped) - UNRESERVED - {"&", "=", "+"})
    assert not bad, f"raw characters {bad} in the forwarded query {raw_query!r}"


@pytest.mark.parametrize("name", ["q s+&=%?#/\u00fc", "plain", "a+b c", "100%", "x\r\nX-Injected: yes"])
def test_query_is_decoded_and_reencoded_with_the_same_meaning(gwr, name):
    gw = gwr.gw
    r = gw.http.get(gw.url + API_PREFIX + "/experiments/get-by-name", params={"experiment_name": name},
                    timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    rec = forwarded(gwr, "/2.0/mlflow/experiments/get-by-name", "GET")
    assert rec.query() == [("experiment_name", name)], (rec.raw_query, name)
    assert_reencoded(rec.raw_query)
    assert "x-injected" not in rec.names()


def test_raw_query_spellings_keep_their_meaning_and_order(gwr):
    gw = gwr.gw
    client_query = ("filter=name%20LIKE%20%27a%25%27&order_by=name+DESC&order_by=experiment_id%20ASC"
                    "&max_results=%32&view_type=ACTIVE_ONLY&x=%C3%BC%2B%26")
    resp = raw_get(gw.port, f"{API_PREFIX}/experiments/search?{client_query}")
    assert resp.status == 200, (resp.status, resp.body[:300])
    rec = forwarded(gwr, "/2.0/mlflow/experiments/search", "GET")
    want = urllib.parse.parse_qsl(client_query, keep_blank_values=True)
    assert rec.query() == want, (rec.raw_query, want)
    assert_reencoded(rec.raw_query)


@pytest.mark.parametrize("status,method,rest", [
    (302, "GET", "/2.0/mlflow/experiments/get"),
    (301, "GET", "/2.0/mlflow-artifacts/artifacts/0/%s/artifacts/r.txt" % RUN),
    (307, "POST", "/2.0/mlflow/experiments/create"),
    (308, "POST", "/2.0/mlflow/runs/log-metric"),
])
def test_redirects_from_upstream_are_not_followed(gwr, status, method, rest):
    gw = gwr.gw
    elsewhere = RecordingUpstream(unique("redirect-target")).start()
    try:
        gwr.up.on(gwr.canonical(rest), status=status, method=method,
                  headers={"Location": elsewhere.url + gwr.canonical(rest), "Content-Type": "text/plain"},
                  body=b"moved")
        body = {"experiments/create": {"name": unique("redir")},
                "runs/log-metric": {"run_id": RUN, "key": "m", "value": 1.0, "timestamp": 1}}
        kw = {"json": next((v for k, v in body.items() if rest.endswith(k)), None)} if method == "POST" else {}
        r = gw.http.request(method, gw.url + "/api" + rest, allow_redirects=False, timeout=TIMEOUT, **kw)
        assert r.status_code == status or r.status_code >= 500, (r.status_code, r.text[:300])
        if r.status_code >= 500:
            assert r.json().get("error_code"), r.text
        recs = [x for x in gwr.up.snapshot() if x.path == gwr.canonical(rest) and not own_lookup(x)]
        assert len(recs) == 1, [x.describe() for x in recs]
        assert elsewhere.snapshot() == [], "the gateway followed the upstream's redirect"
    finally:
        elsewhere.stop()


# --------------------------------------------------------------------------------------------------
# Smuggling and injection (raw sockets)
# --------------------------------------------------------------------------------------------------


def nothing_forwarded(pair: Pair, marker: str | None = None, paths=("experiments/create",)) -> None:
    """The upstream got no request for `paths`, and `marker` (a unique name) is in no request."""
    recs = pair.up.wait_for(lambda rs: False, timeout=0.5)
    for rec in recs:
        for p in paths:
            assert p not in rec.path, f"a refused request reached the upstream: {rec.describe()[:400]}"
        if marker:
            assert marker.encode() not in rec.everything(), f"the refused body reached the upstream: {rec.describe()}"


def create_head(port: int, extra: str, body_len: int | None = None) -> bytes:
    cl = f"Content-Length: {body_len}\r\n" if body_len is not None else ""
    return (f"POST {API_PREFIX}/experiments/create HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth_line(port)}"
            f"Content-Type: application/json\r\n{cl}{extra}\r\n").encode()


def test_content_length_with_transfer_encoding_is_400_and_nothing_forwarded(gwr):
    gw = gwr.gw
    name = unique("smuggle-clte")
    body = json.dumps({"name": name}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    for cl in (len(chunked), 4):  # TE.CL and CL.TE desync shapes
        req = create_head(gw.port, "Transfer-Encoding: chunked\r\n", cl) + chunked
        resp = raw_exchange(gw.port, req, expect_close=True)
        assert resp.status == 400, (resp.status, resp.raw[:300])
        assert resp.closed, "ambiguous framing must close the connection"
    nothing_forwarded(gwr, name)


@pytest.mark.parametrize("lengths", [("10", "11"), ("11", "11"), ("11, 11",), ("+11",), ("-1",), ("0x0b",), ("11 11",)],
                         ids=["different", "same-twice", "list", "plus", "negative", "hex", "two-numbers"])
def test_bad_or_duplicate_content_length(gwr, lengths):
    gw = gwr.gw
    name = unique("smuggle-cl")
    body = json.dumps({"n": name[:6]}).encode()[:11].ljust(11, b" ")
    extra = "".join(f"Content-Length: {v}\r\n" for v in lengths)
    resp = raw_exchange(gw.port, create_head(gw.port, extra) + body + b"GET /x HTTP/1.1\r\n\r\n", expect_close=True)
    if lengths in (("11", "11"), ("11, 11",)) and resp.status != 400:
        # RFC 9110 8.6 allows merging identical values; then exactly the 11 bytes are forwarded.
        recs = gwr.up.matching("/experiments/create")
        assert len(recs) <= 1 and all(r.body == body for r in recs), [r.describe() for r in recs]
        return
    assert resp.status == 400, (lengths, resp.status, resp.raw[:300])
    nothing_forwarded(gwr)


@pytest.mark.parametrize("te", ["xchunked", "chunked, identity", "identity", "chunked\x0b", " chunked"],
                         ids=["unknown", "chunked-not-last", "identity", "vtab", "leading-space-value"])
def test_odd_transfer_encodings_forward_nothing_ambiguous(gwr, te):
    gw = gwr.gw
    name = unique("smuggle-te")
    body = json.dumps({"name": name}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    req = create_head(gw.port, f"Transfer-Encoding: {te}\r\n") + chunked
    resp = raw_exchange(gw.port, req, expect_close=True)
    if te == " chunked":  # optional whitespace before a value is legal: plain chunked
        assert resp.status == 200 or resp.status == 400, (resp.status, resp.raw[:300])
        if resp.status == 200:
            [rec] = gwr.up.matching("/experiments/create")
            assert rec.body == body
        return
    assert resp.status in (400, 501), (te, resp.status, resp.raw[:300])
    nothing_forwarded(gwr, name)


@pytest.mark.parametrize("header", [
    b"X-Note: a\r\n folded",           # obs-fold
    b"X-Note: a\r\n\tfolded",           # obs-fold with a tab
    b"X-Note: a\rX-Injected: yes",      # bare CR
    b"X-Note: a\nX-Injected: yes",      # bare LF
    b"X-Note: a\x00X-Injected: yes",    # NUL
    b"X-Note : spaced-name",            # whitespace before the colon (RFC 9112 5.1: 400)
    b"X Note: bad-name",                # space in the name
], ids=["obs-fold", "obs-fold-tab", "bare-cr", "bare-lf", "nul", "space-before-colon", "space-in-name"])
def test_header_injection_shapes_never_reach_upstream_as_headers(gwr, header):
    gw = gwr.gw
    req = (f"GET {API_PREFIX}/experiments/get?experiment_id=0 HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n"
           f"{auth_line(gw.port)}").encode() + header + b"\r\nConnection: close\r\n\r\n"
    resp = raw_exchange(gw.port, req, expect_close=True)
    recs = gwr.up.wait_for(lambda rs: False, timeout=0.5)
    if resp.status == 400:
        assert not [r for r in recs if "experiments/get" in r.path], "refused, yet forwarded"
        return
    # Not refused: then whatever was forwarded carries no CR, LF or NUL, and no injected header.
    assert resp.status == 200, (resp.status, resp.raw[:300])
    for rec in recs:
        for name, value in rec.header_lines:
            assert not re.search(r"[\r\n\x00]", name + value), f"CR/LF/NUL forwarded in {name!r}: {value!r}"
        assert "x-injected" not in rec.names() or header.startswith(b"X-Note: a\n"), rec.describe()
        assert not any(n.startswith((" ", "\t")) for n, _ in rec.header_lines), rec.describe()


AMBIGUOUS = [
    "/api/2.0/mlflow/experiments%2Fcreate",
    "/api/2.0/mlflow/experiments%2fcreate",
    "/api%2F2.0/mlflow/experiments/create",
    "//api/2.0/mlflow/experiments/create",
    "/api/2.0//mlflow/experiments/create",
    "/api/2.0/mlflow/./experiments/create",
    "/api/2.0/mlflow/../mlflow/experiments/create",
    "/api/2.0/mlflow/%2e%2e/mlflow/experiments/create",
    "/api/2.0/mlflow/experiments/create;x=1",
    "/api/2.0/mlflow/experiments;/create",
    "/api/2.0/mlflow/experiments/create%3B",
    "/api/2.0/mlflow\\experiments/create",
    "/api/2.0/mlflow/experiments/create%00",
    "/mlflow//api/2.0/mlflow/experiments/create",
    "/mlflow/../api/2.0/mlflow/experiments/create",
    "/ajax-api/2.0/mlflow/./experiments/create",
    f"/api/2.0/mlflow-artifacts/artifacts/0/{RUN}/artifacts/../../../x",
    f"/api/2.0/mlflow-artifacts/artifacts/0/{RUN}/artifacts/%2e%2e/x",
    f"/api/2.0/mlflow-artifacts/artifacts/0/{RUN}/artifacts/a%2Fb",
    f"/api/2.0/mlflow-artifacts/artifacts/0/{RUN}/artifacts//x",
]


@pytest.mark.parametrize("target", AMBIGUOUS)
def test_ambiguous_paths_are_400_and_nothing_is_forwarded(gwr, target):
    gw = gwr.gw
    name = unique("ambiguous")
    method = "PUT" if "artifacts" in target else "POST"
    body = b"x" if method == "PUT" else json.dumps({"name": name}).encode()
    resp = raw_request(gw.port, method, target, body=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400, (target, resp.status, resp.body[:300])
    assert resp.json().get("error_code"), resp.body
    recs = gwr.up.wait_for(lambda rs: False, timeout=0.3)
    assert recs == [], f"{target}: forwarded anyway: {[r.describe() for r in recs]}"


def _pipeline(port: int, *requests_: bytes, expect: int) -> list:
    """Sends all requests on one connection at once; reads up to `expect` responses (fewer if the
    gateway closes)."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(b"".join(requests_))
        for _ in range(expect):
            try:
                resp = read_response(sock, timeout=10)
            except (ConnectionResetError, socket.timeout):
                break
            if resp.status is None:
                break
            out.append(resp)
            if resp.closed:
                break
    return out


def _embedded_create(port: int, name: str, key: str) -> bytes:
    body = json.dumps({"name": name}).encode()
    return (f"POST {API_PREFIX}/experiments/create HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _get0(port: int, key: str) -> bytes:
    return (f"GET {API_PREFIX}/experiments/get?experiment_id=0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {key}\r\n\r\n").encode()


def test_pipelined_request_behind_a_401_does_not_leak(gwr):
    gw = gwr.gw
    name = unique("smuggled-401")
    inner = _embedded_create(gw.port, name, gw.admin_key)
    refused = (f"POST {API_PREFIX}/experiments/create HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(inner)}\r\n\r\n").encode() + inner
    got = _pipeline(gw.port, refused, _get0(gw.port, gw.admin_key), expect=2)
    assert got and got[0].status == 401, [(r.status, r.body[:100]) for r in got]
    nothing_forwarded(gwr, name)
    if len(got) == 2:  # the connection stayed usable: the next request is served, and only it
        assert got[1].status == 200
        assert len([r for r in gwr.up.matching("/experiments/get") if not own_lookup(r)]) == 1


def test_pipelined_request_behind_a_403_does_not_leak(gwr):
    gw = gwr.gw
    reader = gw.create_key(unique("gw-pipe-reader"), template="reader")["api_key"]
    name = unique("smuggled-403")
    inner = _embedded_create(gw.port, name, gw.admin_key)
    refused = (f"POST {API_PREFIX}/experiments/create HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n"
               f"Authorization: Bearer {reader}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(inner)}\r\n\r\n").encode() + inner
    got = _pipeline(gw.port, refused, _get0(gw.port, reader), expect=2)
    assert got and got[0].status == 403, [(r.status, r.body[:100]) for r in got]
    nothing_forwarded(gwr, name)
    secret_free(gwr, reader, gw.admin_key)
    if len(got) == 2:
        assert got[1].status == 200


def test_pipelined_request_behind_ambiguous_framing_does_not_leak(gwr):
    gw = gwr.gw
    name = unique("smuggled-clte")
    inner = _embedded_create(gw.port, name, gw.admin_key)
    # CL says the body is 5 bytes ("0\r\n\r\n"): a CL-trusting parser would read `inner` next.
    bad = create_head(gw.port, "Transfer-Encoding: chunked\r\n", 5) + b"0\r\n\r\n"
    got = _pipeline(gw.port, bad, inner, expect=2)
    assert got and got[0].status == 400, [(r.status, r.body[:100]) for r in got]
    assert len(got) == 1, "the connection must be closed after ambiguous framing"
    nothing_forwarded(gwr, name)


def test_pipelined_requests_that_are_allowed_are_forwarded_in_order_once_each(gwr):
    gw = gwr.gw
    names = [unique(f"pipe-{i}") for i in range(3)]
    got = _pipeline(gw.port, *[_embedded_create(gw.port, n, gw.admin_key) for n in names], expect=3)
    assert [r.status for r in got] == [200, 200, 200], [(r.status, r.body[:100]) for r in got]
    recs = gwr.up.wait_for(lambda rs: len([r for r in rs if "experiments/create" in r.path]) >= 3, timeout=5)
    creates = [r for r in recs if "experiments/create" in r.path]
    assert [json.loads(r.body)["name"] for r in creates] == names
