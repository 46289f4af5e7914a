"""HOKUSAI_MOCK_MODE=true: deterministic local answers, no network at all; anything else is off."""

from __future__ import annotations

import socket
from typing import Any

import pytest

import hokusai
from hokusai.results import parse_rfc3339
from sdk_helpers import FAKE_KEY, closed_port_url


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network used in mock mode: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def mock_on(monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    monkeypatch.setenv("HOKUSAI_MOCK_MODE", "true")


def test_setup_in_mock_mode_sends_nothing_even_to_a_closed_port(mock_on: None) -> None:
    url = closed_port_url()
    who = hokusai.setup(api_key=FAKE_KEY, endpoint=url)
    assert who.user_id == "mock-user" and who.has_scope("model:write")
    import os

    assert os.environ["MLFLOW_TRACKING_URI"] == url
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == FAKE_KEY


def test_setup_in_mock_mode_needs_no_key_and_leaves_the_tracking_uri_alone(mock_on: None) -> None:
    import os

    who = hokusai.setup()
    assert who.key_prefix == "hk_test_"
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_TRACKING_TOKEN" not in os.environ


def test_setup_in_mock_mode_still_checks_required_scopes(mock_on: None) -> None:
    with pytest.raises(hokusai.PermissionDeniedError, match="admin"):
        hokusai.setup(require=("admin",))


def test_versions_count_per_name(mock_on: None) -> None:
    reg = hokusai.ModelRegistry(endpoint=closed_port_url())
    assert reg.mock_mode
    a1 = reg.register_model("a", "classifier", mlflow_run_id="r1")
    a2 = reg.register_model("a", "classifier", mlflow_run_id="r2", version="v2.0.0")
    b1 = reg.register_model("b", "regressor", model_uri="models:/x/1")
    assert (a1.version, a2.version, b1.version) == ("1", "2", "1")
    assert a2.model_id == "a/2" and a2.version_label == "v2.0.0"
    assert a1.status == "registered"
    assert a1.source == "runs:/r1/model" and b1.source == "models:/x/1"
    assert b1.mlflow_run_id is None


def test_registration_timestamps_are_valid_rfc3339_and_deterministic(mock_on: None) -> None:
    reg = hokusai.ModelRegistry()
    first = [reg.register_model("m", "t", mlflow_run_id=f"r{i}").registration_timestamp
             for i in range(3)]
    hokusai.mock.reset()
    again = [reg.register_model("m", "t", mlflow_run_id=f"r{i}").registration_timestamp
             for i in range(3)]
    assert first == again == ["2000-01-01T00:00:01Z", "2000-01-01T00:00:02Z",
                              "2000-01-01T00:00:03Z"]
    assert parse_rfc3339(first[0]).year == 2000


def test_get_list_and_transition_agree_with_registrations(mock_on: None) -> None:
    reg = hokusai.ModelRegistry()
    reg.register_model("a", "classifier", mlflow_run_id="r1", metrics={"acc": 0.9})
    reg.register_model("a", "classifier", mlflow_run_id="r2")
    reg.register_model("b", "regressor", mlflow_run_id="r3")
    got = reg.get_model("a", 1)
    assert got.metrics == {"acc": 0.9} and got.mlflow_run_id == "r1"
    assert [(m.model_name, m.version) for m in reg.list_models()] == [
        ("a", "1"), ("a", "2"), ("b", "1")]
    assert [m.version for m in reg.list_models(name="a")] == ["1", "2"]
    assert [m.model_name for m in reg.list_models(model_type="regressor")] == ["b"]
    moved = reg.transition("a", "2", "Production")
    assert moved.stage == "Production" and "production" in moved.raw["aliases"]
    assert reg.get_model("a", "2").stage == "Production"
    with pytest.raises(hokusai.NotFoundError):
        reg.get_model("a", "3")
    with pytest.raises(hokusai.NotFoundError):
        reg.transition("nope", "1", "Staging")


def test_registries_share_one_process_registry(mock_on: None) -> None:
    hokusai.ModelRegistry().register_model("shared", "t", mlflow_run_id="r")
    assert hokusai.ModelRegistry().get_model("shared", "1").model_name == "shared"


def test_idempotent_replay_and_conflict(mock_on: None) -> None:
    reg = hokusai.ModelRegistry()
    first = reg.register_model("m", "t", mlflow_run_id="r", idempotency_key="k1")
    again = reg.register_model("m", "t", mlflow_run_id="r", idempotency_key="k1")
    assert again == first and len(reg.list_models(name="m")) == 1
    with pytest.raises(hokusai.ConflictError) as info:
        reg.register_model("m", "t", mlflow_run_id="other", idempotency_key="k1")
    assert info.value.status_code == 409
    # Without a key every call is a new registration.
    assert reg.register_model("m", "t", mlflow_run_id="r").version == "2"


def test_baseline_name_is_derived_from_the_type(mock_on: None) -> None:
    reg = hokusai.ModelRegistry()
    mv = reg.register_baseline_via_api("sentiment", mlflow_run_id="r")
    assert mv.model_name == "hokusai_sentiment_baseline" and mv.version == "1"
    named = reg.register_baseline_via_api("sentiment", mlflow_run_id="r", model_name="mine")
    assert named.model_name == "mine"


@pytest.mark.parametrize("kwargs, field", [
    ({}, "mlflow_run_id"),
    ({"mlflow_run_id": "r", "model_uri": "runs:/r/model"}, "mlflow_run_id"),
    ({"model_uri": "s3://bucket/model"}, "model_uri"),
    ({"mlflow_run_id": "r", "metrics": {"acc": "high"}}, "metrics"),
    ({"mlflow_run_id": "r", "metrics": {"acc": float("nan")}}, "acc"),
    ({"mlflow_run_id": "r", "metadata": {"k": 1}}, "metadata"),
])
def test_invalid_arguments_raise_validation_errors_naming_the_field(
        mock_on: None, kwargs: Any, field: str) -> None:
    with pytest.raises(hokusai.ValidationError, match=field):
        hokusai.ModelRegistry().register_model("m", "t", **kwargs)
    assert hokusai.ModelRegistry().list_models() == []


@pytest.mark.parametrize("key", ["", "has space", "é", "x" * 256])
def test_idempotency_key_must_be_visible_ascii(mock_on: None, key: str) -> None:
    with pytest.raises(hokusai.ValidationError, match="idempotency_key"):
        hokusai.ModelRegistry().register_model("m", "t", mlflow_run_id="r", idempotency_key=key)


def test_register_model_requires_a_name(mock_on: None) -> None:
    with pytest.raises(hokusai.ValidationError, match="model_name"):
        hokusai.ModelRegistry().register_model("", "t", mlflow_run_id="r")


@pytest.mark.parametrize("value", ["True", "TRUE", "1", "yes", "on", " true", "true "])
def test_anything_but_exactly_true_is_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HOKUSAI_MOCK_MODE", value)
    url = closed_port_url()
    reg = hokusai.ModelRegistry(api_key=FAKE_KEY, endpoint=url, max_attempts=1)
    assert not reg.mock_mode
    with pytest.raises(hokusai.EndpointUnreachableError) as info:
        reg.register_model("m", "t", mlflow_run_id="r")
    assert url in str(info.value)
    with pytest.raises(hokusai.EndpointUnreachableError, match=url.replace(".", r"\.")):
        hokusai.setup(api_key=FAKE_KEY, endpoint=url)


def test_off_without_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(hokusai.ConfigurationError, match="HOKUSAI_API_ENDPOINT"):
        hokusai.ModelRegistry(api_key=FAKE_KEY)
    with pytest.raises(hokusai.ConfigurationError, match="HOKUSAI_API_KEY"):
        hokusai.ModelRegistry(endpoint="http://127.0.0.1:1")
    with pytest.raises(hokusai.ConfigurationError, match="http"):
        hokusai.ModelRegistry(api_key=FAKE_KEY, endpoint="ftp://example.invalid")
