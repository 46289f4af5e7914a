"""External auth-service mode (`--auth-service-url`, spec §1, security principle 11).

Each test starts its own auth-service double (tests/integration/auth_service_double.py) and a
Hokusai server pointed at it, for both generations of the service found in the field: the old one
reads the key only from `Authorization: Bearer`, the new one only from the body's `api_key`. The
server sends both at once, so either must work unchanged.
"""

from __future__ import annotations

import time

import pytest
import requests

from auth_service_double import VALIDATE_PATH, AuthServiceDouble, make_key
from itest_helpers import API_PREFIX, unique

pytestmark = pytest.mark.hokusai_only

GENERATIONS = ("header", "body")
SERVICE_ID = "hokusai-registry-itest"
TIMEOUT_S = 10


@pytest.fixture
def auth_double():
    """Factory: a started double of the given generation; all are stopped at the end."""
    doubles: list[AuthServiceDouble] = []

    def make(generation: str) -> AuthServiceDouble:
        double = AuthServiceDouble(generation=generation, service_id=SERVICE_ID).start()
        doubles.append(double)
        return double

    yield make
    for double in doubles:
        double.stop()


@pytest.fixture
def external(auth_double, fresh_server):
    """Factory: (double, server) with the server validating keys at the double."""

    def start(generation: str, cache_seconds: int = 10, timeout_s: float = 2):
        double = auth_double(generation)
        server = fresh_server(extra_args=[
            "--auth-service-url", double.url,
            "--auth-service-id", SERVICE_ID,
            "--auth-service-timeout", str(timeout_s),
            "--auth-cache-seconds", str(cache_seconds),
        ])
        return double, server

    return start


def create_experiment(server, key: str, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"}
    headers.update(kw.pop("headers", {}))
    return requests.post(server.url + API_PREFIX + "/experiments/create",
                         json={"name": unique("ext-auth")}, headers=headers,
                         timeout=kw.pop("timeout", TIMEOUT_S), **kw)


def assert_error(resp: requests.Response, status: int, code: str) -> None:
    assert resp.status_code == status, (
        f"expected {status}, got {resp.status_code}: {resp.text[:300]}")
    assert resp.json().get("error_code") == code, resp.text[:300]


def assert_double_saw_only_keys(double: AuthServiceDouble, keys: set[str],
                                never_seen: tuple[str, ...] = ()) -> None:
    """Every validate call carried one key exactly twice (Bearer header and `api_key`) and
    nothing else of the client's: no other credential header, no other body field, no client
    header. Readiness probes (GET) carried no key at all."""
    assert double.requests, "the double was never asked"
    every_key = set(double.known) | keys
    for r in double.requests:
        raw_headers = "\n".join(f"{k}: {v}" for k, v in r.headers)
        for secret in never_seen:
            assert secret not in raw_headers and secret.encode() not in r.body, r
        for name in ("Cookie", "X-API-Key", "Proxy-Authorization"):
            assert r.header(name) is None, (name, r)
        if r.method == "GET":
            assert r.header("Authorization") is None, r
            assert not r.body, r
            assert not any(k in raw_headers or k in r.path for k in every_key), r
            continue
        assert r.method == "POST", r
        assert r.path == VALIDATE_PATH, r.path
        authorization = r.header("Authorization") or ""
        assert authorization.startswith("Bearer "), r
        key = authorization[len("Bearer "):]
        assert key in keys, "the double was asked about a key the client never sent"
        assert (r.header("Content-Type") or "").startswith("application/json"), r
        body = r.json()
        assert isinstance(body, dict) and set(body) <= {"api_key", "service_id", "client_ip"}, body
        assert body["api_key"] == key
        assert body.get("service_id") == SERVICE_ID, body
        assert body.get("client_ip") == "127.0.0.1", body
        assert r.body.decode().count(key) == 1, r.body
        others = "\n".join(f"{k}: {v}" for k, v in r.headers if k.lower() != "authorization")
        assert not any(k in others for k in every_key), others


@pytest.mark.parametrize("generation", GENERATIONS)
def test_stock_client_creates_an_experiment_and_a_run(external, generation, monkeypatch):
    import mlflow

    double, server = external(generation)
    key = double.add_key(user_id="ada", scopes=["experiment:write", "model:write"])
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
    client = mlflow.MlflowClient(tracking_uri=server.url)
    experiment_id = client.create_experiment(unique("ext-auth"))
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "loss", 0.25)
    client.set_terminated(run.info.run_id)
    fetched = client.get_run(run.info.run_id)
    assert fetched.info.experiment_id == experiment_id
    assert fetched.data.metrics == {"loss": 0.25}
    assert_double_saw_only_keys(double, {key})


@pytest.mark.parametrize("generation", GENERATIONS)
def test_unknown_key_is_401(external, generation):
    double, server = external(generation)
    double.add_key()  # some other key is known
    resp = create_experiment(server, make_key())
    assert_error(resp, 401, "UNAUTHENTICATED")
    assert len(double.posts()) == 1


@pytest.mark.parametrize("generation", GENERATIONS)
def test_malformed_key_is_401_without_asking_the_service(external, generation):
    double, server = external(generation)
    key = make_key()
    typo = key[:-1] + ("a" if key[-1] != "a" else "b")
    for bad in (typo, "not-a-key"):
        assert_error(create_experiment(server, bad), 401, "UNAUTHENTICATED")
    assert double.posts() == []


@pytest.mark.parametrize("generation", GENERATIONS)
def test_service_down_with_an_uncached_key_is_503_with_retry_after(external, generation):
    double, server = external(generation)
    key = double.add_key()
    double.stop()
    resp = create_experiment(server, key)
    assert_error(resp, 503, "TEMPORARILY_UNAVAILABLE")
    assert resp.headers.get("Retry-After", "").isdigit(), resp.headers
    assert key not in resp.text


@pytest.mark.parametrize("generation", GENERATIONS)
def test_service_answering_429_is_429_with_its_retry_after(external, generation):
    double, server = external(generation)
    key = double.add_key()
    double.fault = "429"
    double.retry_after = "7"
    resp = create_experiment(server, key)
    assert_error(resp, 429, "REQUEST_LIMIT_EXCEEDED")
    assert resp.headers.get("Retry-After") == "7", resp.headers


@pytest.mark.parametrize("generation", GENERATIONS)
def test_service_answering_500_is_503(external, generation):
    double, server = external(generation)
    key = double.add_key()
    double.fault = "500"
    resp = create_experiment(server, key)
    assert_error(resp, 503, "TEMPORARILY_UNAVAILABLE")
    assert resp.headers.get("Retry-After", "").isdigit(), resp.headers


@pytest.mark.parametrize("generation", GENERATIONS)
def test_service_that_never_answers_is_503_after_the_timeout(external, generation):
    double, server = external(generation, timeout_s=1)
    key = double.add_key()
    double.fault = "hang"
    started = time.monotonic()
    resp = create_experiment(server, key)
    elapsed = time.monotonic() - started
    assert_error(resp, 503, "TEMPORARILY_UNAVAILABLE")
    assert resp.headers.get("Retry-After", "").isdigit(), resp.headers
    assert elapsed < 5, f"took {elapsed:.1f} s with a 1 s auth-service timeout"


@pytest.mark.parametrize("generation", GENERATIONS)
def test_positive_answers_are_cached_and_refusals_are_not(external, generation):
    double, server = external(generation, cache_seconds=60)
    key = double.add_key()
    assert create_experiment(server, key).status_code == 200
    assert create_experiment(server, key).status_code == 200
    assert len(double.posts()) == 1
    unknown = make_key()
    for _ in range(2):
        assert_error(create_experiment(server, unknown), 401, "UNAUTHENTICATED")
    assert len(double.posts()) == 3
    # A cached key keeps working through a short outage; an uncached one does not pass.
    double.stop()
    assert create_experiment(server, key).status_code == 200
    assert_error(create_experiment(server, double.add_key()), 503, "TEMPORARILY_UNAVAILABLE")


@pytest.mark.parametrize("generation", GENERATIONS)
def test_ready_reports_the_auth_service(external, generation):
    double, server = external(generation)
    ready = requests.get(server.url + "/ready", timeout=TIMEOUT_S)
    assert ready.status_code == 200, ready.text
    assert ready.json().get("auth_service", {}).get("ok") is True, ready.text
    probes = [r for r in double.requests if r.method == "GET"]
    assert probes and all(r.header("Authorization") is None for r in probes)
    double.stop()
    ready = requests.get(server.url + "/ready", timeout=TIMEOUT_S)
    assert ready.status_code == 503, ready.text
    assert ready.json().get("auth_service", {}).get("ok") is False, ready.text


@pytest.mark.parametrize("generation", GENERATIONS)
def test_the_service_receives_the_key_only_in_the_two_expected_places(external, generation):
    double, server = external(generation, cache_seconds=0)
    key = double.add_key()
    probe = "probe-" + unique("x")
    resp = create_experiment(server, key, headers={
        "X-Hokusai-User-Id": probe, "Cookie": f"session={probe}", "X-Forwarded-For": "10.9.9.9",
        "User-Agent": probe,
    })
    assert resp.status_code == 200, resp.text
    unknown = make_key()
    assert create_experiment(server, unknown).status_code == 401
    requests.get(server.url + "/ready", timeout=TIMEOUT_S)
    assert len(double.posts()) == 2
    assert_double_saw_only_keys(double, {key, unknown}, never_seen=(probe, "10.9.9.9"))
