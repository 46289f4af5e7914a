"""The HTTP backend against a scripted double: requests sent, error mapping, retries,
Idempotency-Key, paging, URL encoding."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

import hokusai
from sdk_helpers import FAKE_KEY, HttpDouble, Reply, closed_port_url, version_body, whoami_body

DEVELOPER = ["experiment:read", "experiment:write", "model:read", "model:write"]


def registry(double: HttpDouble, **kw: Any) -> hokusai.ModelRegistry:
    kw.setdefault("backoff_s", 0.0)
    return hokusai.ModelRegistry(api_key=FAKE_KEY, endpoint=double.url + "/", **kw)


# -- setup ------------------------------------------------------------------------------------


def test_setup_verifies_the_key_then_configures_mlflow(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(DEVELOPER)))
    who = hokusai.setup(api_key=FAKE_KEY, endpoint=double.url)
    assert who.user_id == "alice" and who.key_prefix == "hk_test_"
    assert who.scopes == tuple(DEVELOPER)
    [req] = double.requests
    assert (req.method, req.path) == ("GET", "/api/v1/whoami")
    assert req.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert os.environ["MLFLOW_TRACKING_URI"] == double.url
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == FAKE_KEY


def test_setup_reads_the_environment_and_registry_reuses_it(
        double: HttpDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("HOKUSAI_API_ENDPOINT", double.url)
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(DEVELOPER)))
    hokusai.setup()
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == FAKE_KEY
    monkeypatch.delenv("HOKUSAI_API_KEY")
    monkeypatch.delenv("HOKUSAI_API_ENDPOINT")
    assert hokusai.ModelRegistry().endpoint == double.url  # remembered from setup()


def test_setup_names_the_missing_scope_and_changes_nothing(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/whoami",
                  Reply(200, whoami_body(["experiment:read", "model:read"])))
    with pytest.raises(hokusai.PermissionDeniedError) as info:
        hokusai.setup(api_key=FAKE_KEY, endpoint=double.url)
    assert "model:write" in str(info.value)
    assert info.value.required_scope == "model:write"
    assert info.value.key_scopes == ("experiment:read", "model:read")
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_TRACKING_TOKEN" not in os.environ


def test_setup_lists_every_missing_scope(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(["model:read"])))
    with pytest.raises(hokusai.PermissionDeniedError, match="experiment:write, model:write"):
        hokusai.setup(api_key=FAKE_KEY, endpoint=double.url,
                      require=("experiment:write", "model:write"))


def test_setup_warns_about_basic_credentials_that_would_win(
        double: HttpDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "old")
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(DEVELOPER)))
    with pytest.warns(UserWarning, match="MLFLOW_TRACKING_USERNAME"):
        hokusai.setup(api_key=FAKE_KEY, endpoint=double.url)


def test_setup_accepts_a_single_scope_string(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(["model:read"])))
    with pytest.raises(hokusai.PermissionDeniedError, match="lacks the scope admin "):
        hokusai.setup(api_key=FAKE_KEY, endpoint=double.url, require="admin")


def test_setup_with_no_requirement_accepts_a_reader_key(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(["model:read"])))
    assert hokusai.setup(api_key=FAKE_KEY, endpoint=double.url, require=()).user_id == "alice"


@pytest.mark.parametrize("scopes", [["admin"], ["model:write:acme-*"], ["write"],
                                    ["mlflow:write"], ["model:write"]])
def test_scopes_that_cover_model_write(double: HttpDouble, scopes: Any) -> None:
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(scopes)))
    hokusai.setup(api_key=FAKE_KEY, endpoint=double.url)


def test_scope_rules() -> None:
    cover = hokusai.scope_covers
    assert cover("model:write", "model:read")
    assert not cover("model:read", "model:write")
    assert not cover("experiment:write", "model:write")
    assert cover("model:write:acme-*", "model:write:acme-prod")
    assert not cover("model:write:acme-*", "model:write:other")
    assert cover("model:write:*", "model:write:anything")
    assert not cover("model:write", "admin") and cover("admin", "admin")


def test_setup_with_a_refused_key(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/whoami",
                  Reply(401, {"error_code": "UNAUTHENTICATED", "message": "A valid API key is "
                              "required"}, headers={"WWW-Authenticate": "Bearer"}))
    with pytest.raises(hokusai.AuthenticationError, match="valid API key") as info:
        hokusai.setup(api_key=FAKE_KEY, endpoint=double.url)
    assert info.value.status_code == 401 and info.value.error_code == "UNAUTHENTICATED"
    assert len(double.requests) == 1


def test_setup_names_an_unreachable_endpoint() -> None:
    url = closed_port_url()
    with pytest.raises(hokusai.EndpointUnreachableError) as info:
        hokusai.setup(api_key=FAKE_KEY, endpoint=url)
    assert url in str(info.value) and info.value.endpoint == url
    assert "connection refused" in str(info.value)
    assert "MLFLOW_TRACKING_URI" not in os.environ


# -- registration -----------------------------------------------------------------------------


def test_register_sends_the_contract_body(double: HttpDouble) -> None:
    double.script("POST", "/api/v1/models/register", Reply(201, version_body("m", "3")))
    mv = registry(double).register_model(
        "m", "classifier", mlflow_run_id="r1", version="v1.0.0", metrics={"acc": 0.9, "n": 3},
        metadata={"team": "a"}, tags={"t": "x"}, alias="champion", description="d",
        artifact_path="clf")
    [req] = double.requests
    assert (req.method, req.path) == ("POST", "/api/v1/models/register")
    assert req.body == {"model_name": "m", "model_type": "classifier", "mlflow_run_id": "r1",
                        "artifact_path": "clf", "version": "v1.0.0",
                        "metrics": {"acc": 0.9, "n": 3}, "metadata": {"team": "a"},
                        "tags": {"t": "x"}, "alias": "champion", "description": "d"}
    assert req.headers["Content-Type"] == "application/json"
    assert mv == hokusai.RegisteredModelVersion(
        model_id="m/3", model_name="m", version="3", version_label="v1.0.0",
        model_type="classifier", metrics={"acc": 0.9}, status="registered",
        registration_timestamp="2024-05-01T12:00:00Z", mlflow_run_id="r1",
        source="mlflow-artifacts:/1/r1/artifacts/model")
    assert mv.raw["model_id"] == "m/3" and mv.registered_at is not None


def test_baseline_leaves_out_what_was_not_given(double: HttpDouble) -> None:
    double.script("POST", "/api/v1/models/baseline",
                  Reply(201, version_body("hokusai_sentiment_baseline")))
    mv = registry(double).register_baseline_via_api("sentiment", model_uri="runs:/r1/model")
    assert double.requests[0].body == {"model_type": "sentiment", "model_uri": "runs:/r1/model"}
    assert mv.model_name == "hokusai_sentiment_baseline"


def test_each_call_gets_its_own_generated_idempotency_key(double: HttpDouble) -> None:
    double.script("POST", "/api/v1/models/register", Reply(201, version_body()))
    reg = registry(double)
    reg.register_model("m", "t", mlflow_run_id="r")
    reg.register_model("m", "t", mlflow_run_id="r")
    keys = [r.headers["Idempotency-Key"] for r in double.requests]
    assert keys[0] != keys[1]
    assert all(uuid.UUID(k).version == 4 for k in keys)


def test_a_given_idempotency_key_is_sent_and_a_200_replay_is_accepted(double: HttpDouble) -> None:
    double.script("POST", "/api/v1/models/register", Reply(200, version_body()))
    mv = registry(double).register_model("m", "t", mlflow_run_id="r", idempotency_key="ci-42")
    assert double.requests[0].headers["Idempotency-Key"] == "ci-42"
    assert mv.version == "1"


def test_retries_reuse_the_same_idempotency_key(double: HttpDouble) -> None:
    double.script("POST", "/api/v1/models/register",
                  Reply(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"},
                        headers={"Retry-After": "0"}),
                  Reply(502), Reply(201, version_body()))
    mv = registry(double).register_model("m", "t", mlflow_run_id="r")
    assert mv.version == "1" and len(double.requests) == 3
    assert len({r.headers["Idempotency-Key"] for r in double.requests}) == 1


def test_a_dropped_connection_is_retried(double: HttpDouble) -> None:
    double.script("POST", "/api/v1/models/register", Reply(drop=True), Reply(201, version_body()))
    assert registry(double).register_model("m", "t", mlflow_run_id="r").version == "1"
    assert len(double.requests) == 2
    assert double.requests[0].headers["Idempotency-Key"] == \
        double.requests[1].headers["Idempotency-Key"]


def test_retries_are_bounded(double: HttpDouble) -> None:
    double.script("POST", "/api/v1/models/register",
                  Reply(504, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "gateway"}))
    with pytest.raises(hokusai.ServerError, match="gateway") as info:
        registry(double).register_model("m", "t", mlflow_run_id="r")
    assert info.value.status_code == 504 and len(double.requests) == 3


def test_a_connection_that_always_drops_ends_as_unreachable(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/models", Reply(drop=True))
    with pytest.raises(hokusai.EndpointUnreachableError) as info:
        registry(double, max_attempts=2).list_models()
    assert double.url in str(info.value) and len(double.requests) == 2


def test_a_timeout_is_retried_then_unreachable(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/models/m/1", Reply(200, version_body(), delay=1.0))
    with pytest.raises(hokusai.EndpointUnreachableError, match="no answer within 0.2 s") as info:
        registry(double, timeout=0.2, max_attempts=2).get_model("m", "1")
    assert double.url in str(info.value) and len(double.requests) == 2


@pytest.mark.parametrize("status, error_code, cls", [
    (400, "INVALID_PARAMETER_VALUE", hokusai.ValidationError),
    (401, "UNAUTHENTICATED", hokusai.AuthenticationError),
    (403, "PERMISSION_DENIED", hokusai.PermissionDeniedError),
    (404, "RESOURCE_DOES_NOT_EXIST", hokusai.NotFoundError),
    (409, "RESOURCE_CONFLICT", hokusai.ConflictError),
    (429, "REQUEST_LIMIT_EXCEEDED", hokusai.RateLimitedError),
    (500, "INTERNAL_ERROR", hokusai.ServerError),
    (501, "NOT_IMPLEMENTED", hokusai.ServerError),
])
def test_error_statuses_map_to_exceptions_without_retry(
        double: HttpDouble, status: int, error_code: str, cls: Any) -> None:
    message = f"'model_type' is bad ({status})"
    double.script("POST", "/api/v1/models/register",
                  Reply(status, {"error_code": error_code, "message": message}))
    with pytest.raises(cls) as info:
        registry(double).register_model("m", "t", mlflow_run_id="r")
    assert isinstance(info.value, hokusai.HokusaiError)
    assert str(info.value) == message
    assert (info.value.status_code, info.value.error_code) == (status, error_code)
    assert len(double.requests) == 1


def test_permission_denied_carries_the_scope(double: HttpDouble) -> None:
    double.script("POST", "/api/v1/models/register", Reply(403, {
        "error_code": "PERMISSION_DENIED", "message": "This key lacks the scope model:write",
        "detail": "This key lacks the scope model:write", "required_scope": "model:write",
        "key_scopes": ["model:read"]}))
    with pytest.raises(hokusai.PermissionDeniedError, match="model:write") as info:
        registry(double).register_model("m", "t", mlflow_run_id="r")
    assert info.value.required_scope == "model:write"
    assert info.value.key_scopes == ("model:read",)
    assert info.value.detail == "This key lacks the scope model:write"


def test_rate_limited_carries_retry_after(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/models/m/1", Reply(429, {
        "error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"},
        headers={"Retry-After": "7"}))
    with pytest.raises(hokusai.RateLimitedError) as info:
        registry(double).get_model("m", 1)
    assert info.value.retry_after == 7.0 and len(double.requests) == 1


def test_an_empty_404_explains_itself(double: HttpDouble) -> None:
    with pytest.raises(hokusai.NotFoundError, match="/api/v1/models/register"):
        registry(double).register_model("m", "t", mlflow_run_id="r")


def test_a_non_json_answer_is_a_server_error(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/models/m/1", Reply(200, raw=b"<html>proxy</html>"))
    with pytest.raises(hokusai.ServerError, match="not JSON"):
        registry(double).get_model("m", "1")


def test_an_answer_without_contract_fields_is_a_server_error(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/models/m/1", Reply(200, {"model_name": "m"}))
    with pytest.raises(hokusai.ServerError, match="version"):
        registry(double).get_model("m", "1")


# -- reads ------------------------------------------------------------------------------------


def test_get_model_percent_encodes_the_name(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/models/", Reply(200, version_body("team/model a", "3")))
    mv = registry(double).get_model("team/model a", 3)
    assert double.requests[0].path == "/api/v1/models/team%2Fmodel%20a/3"
    assert mv.model_name == "team/model a"


def test_list_models_filters_and_follows_pages(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/models",
                  Reply(200, {"models": [version_body("m", "1")], "next_page_token": "p2"}),
                  Reply(200, {"models": [version_body("m", "2")]}))
    got = registry(double).list_models(name="m", model_type="classifier")
    assert [m.version for m in got] == ["1", "2"]
    assert double.requests[0].path == "/api/v1/models?name=m&model_type=classifier"
    assert double.requests[1].path == \
        "/api/v1/models?name=m&model_type=classifier&page_token=p2"


def test_list_models_without_filters(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/models", Reply(200, {"models": []}))
    assert registry(double).list_models() == []
    assert double.requests[0].path == "/api/v1/models"


def test_transition_posts_the_stage(double: HttpDouble) -> None:
    double.script("POST", "/api/v1/models/m/2/transition",
                  Reply(200, version_body("m", "2", stage="Production")))
    mv = registry(double).transition("m", 2, "Production")
    assert double.requests[0].body == {"stage": "Production"}
    assert mv.stage == "Production"
