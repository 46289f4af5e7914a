"""The SDK against the real hokusai-registry binary: a developer with only their key and the SDK
trains a model, logs it with the stock mlflow client, registers it in one call and loads it back.

Started once per session by conftest (`server`); the developer and reader keys are created
through the admin API. The binary is $HOKUSAI_BIN (default build/asan/hokusai-registry); when it
is missing these tests fail, never skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

import hokusai
from sdk_helpers import KEY_SHAPE, ServerProcess, closed_port_url, unique

pytestmark = pytest.mark.integration

SKLEARN_REQUIREMENTS = ["scikit-learn", "numpy"]  # skips requirement inference (seconds)


def train() -> Any:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    return X, y, model


def log_model_run(experiment: str) -> str:
    """Trains and logs a scikit-learn model with the stock client (as configured by the
    environment); returns the run id."""
    import mlflow
    import mlflow.sklearn

    X, y, model = train()
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", float(model.score(X, y)))
        mlflow.sklearn.log_model(model, name="model", pip_requirements=SKLEARN_REQUIREMENTS)
    return str(run.info.run_id)


@pytest.fixture(scope="session")
def dev_run(server: ServerProcess, dev_key: str) -> str:
    """One run with a logged model, owned by the developer (shared by the tests that need a
    model but do not test logging)."""
    import mlflow.tracking.fluent as fluent

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", server.url)
        mp.setenv("MLFLOW_TRACKING_TOKEN", dev_key)
        try:
            return log_model_run(unique("sdk-shared"))
        finally:
            fluent._active_experiment_id = None


def admin_get(server: ServerProcess, path: str, **params: str) -> requests.Response:
    return requests.get(server.url + path, params=params, timeout=30,
                        headers={"Authorization": f"Bearer {server.admin_key}"})


def assert_no_registered_model(server: ServerProcess, name: str) -> None:
    """Checked with the admin key, which sees every model."""
    resp = admin_get(server, "/api/2.0/mlflow/registered-models/get", name=name)
    assert resp.status_code == 404, resp.text
    assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


# -- the journey ------------------------------------------------------------------------------


def test_developer_trains_logs_registers_and_loads(server: ServerProcess, dev_env: str) -> None:
    import mlflow
    import mlflow.pyfunc
    import numpy as np

    who = hokusai.setup()
    assert who.user_id == "sdk-dev" and who.has_scope("model:write")
    assert who.key_prefix and dev_env.startswith(who.key_prefix)
    assert os.environ["MLFLOW_TRACKING_URI"] == server.url
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == dev_env

    X, y, model = train()
    mlflow.set_experiment(unique("sdk-journey"))
    with mlflow.start_run() as run:
        accuracy = float(model.score(X, y))
        mlflow.log_metric("accuracy", accuracy)
        mlflow.sklearn.log_model(model, name="model", pip_requirements=SKLEARN_REQUIREMENTS)

    name = unique("sdk-iris")
    registry = hokusai.ModelRegistry()
    mv = registry.register_model(name, "classifier", mlflow_run_id=run.info.run_id,
                                 version="v1.0.0", metrics={"accuracy": accuracy},
                                 metadata={"dataset": "iris"}, alias="champion",
                                 description="first iris model")
    assert (mv.model_id, mv.model_name, mv.version) == (f"{name}/1", name, "1")
    assert (mv.version_label, mv.model_type, mv.status) == ("v1.0.0", "classifier", "registered")
    assert mv.mlflow_run_id == run.info.run_id
    assert mv.metrics == {"accuracy": pytest.approx(accuracy)}
    assert mv.source and mv.registered_at is not None

    client = mlflow.MlflowClient()
    assert client.get_registered_model(name).name == name
    by_alias = client.get_model_version_by_alias(name, "champion")
    assert by_alias.version == "1" and by_alias.run_id == run.info.run_id

    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_array_equal(np.asarray(loaded.predict(X)), model.predict(X))

    got = registry.get_model(name, 1)
    assert got == mv
    assert [m.version for m in registry.list_models(name=name)] == ["1"]
    assert name in {m.model_name for m in registry.list_models(model_type="classifier")}

    moved = registry.transition(name, "1", "Production")
    assert moved.stage == "Production"
    assert client.get_model_version_by_alias(name, "production").version == "1"
    assert registry.get_model(name, "1").stage == "Production"


def test_baseline_name_defaults_from_the_type(dev_env: str, dev_run: str) -> None:
    hokusai.setup()
    model_type = unique("sdktype")
    mv = hokusai.ModelRegistry().register_baseline_via_api(model_type, mlflow_run_id=dev_run)
    assert mv.model_name == f"hokusai_{model_type}_baseline" and mv.version == "1"
    assert mv.model_type == model_type


def test_register_from_a_model_uri(dev_env: str, dev_run: str) -> None:
    name = unique("sdk-uri")
    mv = hokusai.ModelRegistry().register_model(name, "classifier",
                                                model_uri=f"runs:/{dev_run}/model")
    assert mv.version == "1" and mv.mlflow_run_id == dev_run


# -- idempotency ------------------------------------------------------------------------------


def test_same_idempotency_key_replays_the_first_registration(dev_env: str, dev_run: str) -> None:
    import mlflow

    hokusai.setup()
    name = unique("sdk-idem")
    registry = hokusai.ModelRegistry()
    key = unique("idem")
    first = registry.register_model(name, "classifier", mlflow_run_id=dev_run,
                                    metrics={"accuracy": 0.5}, idempotency_key=key)
    again = registry.register_model(name, "classifier", mlflow_run_id=dev_run,
                                    metrics={"accuracy": 0.5}, idempotency_key=key)
    assert again == first and again.version == "1"
    versions = mlflow.MlflowClient().search_model_versions(f"name = '{name}'")
    assert [v.version for v in versions] == ["1"]

    with pytest.raises(hokusai.ConflictError) as info:
        registry.register_model(name, "classifier", mlflow_run_id=dev_run,
                                metrics={"accuracy": 0.9}, idempotency_key=key)
    assert info.value.status_code == 409
    assert [v.version for v in mlflow.MlflowClient().search_model_versions(
        f"name = '{name}'")] == ["1"]

    # Without a key each call is a new registration.
    assert registry.register_model(name, "classifier", mlflow_run_id=dev_run).version == "2"


# -- refusals ---------------------------------------------------------------------------------


def test_unknown_run_is_404_and_creates_nothing(server: ServerProcess, dev_env: str) -> None:
    name = unique("sdk-missing")
    with pytest.raises(hokusai.NotFoundError) as info:
        hokusai.ModelRegistry().register_model(name, "classifier", mlflow_run_id="0" * 32,
                                               alias="champion")
    assert info.value.status_code == 404
    assert_no_registered_model(server, name)


def test_missing_artifact_path_is_404_and_creates_nothing(
        server: ServerProcess, dev_env: str, dev_run: str) -> None:
    name = unique("sdk-nopath")
    with pytest.raises(hokusai.NotFoundError, match="no-such-model"):
        hokusai.ModelRegistry().register_model(name, "classifier", mlflow_run_id=dev_run,
                                               artifact_path="no-such-model")
    assert_no_registered_model(server, name)


def test_run_the_key_may_not_read_is_404_and_creates_nothing(
        server: ServerProcess, dev_env: str) -> None:
    # The admin's run, in an experiment sdk-dev is explicitly refused.
    exp = server.admin_post("/api/2.0/mlflow/experiments/create", {"name": unique("sdk-private")})
    assert exp.status_code == 200, exp.text
    experiment_id = exp.json()["experiment_id"]
    run = server.admin_post("/api/2.0/mlflow/runs/create", {"experiment_id": experiment_id})
    assert run.status_code == 200, run.text
    run_id = run.json()["run"]["info"]["run_id"]
    grant = server.admin_post("/api/2.0/mlflow/experiments/permissions/create", {
        "experiment_id": experiment_id, "username": "sdk-dev", "permission": "NO_PERMISSIONS"})
    assert grant.status_code == 200, grant.text

    name = unique("sdk-private")
    with pytest.raises(hokusai.NotFoundError):
        hokusai.ModelRegistry().register_model(name, "classifier", mlflow_run_id=run_id)
    assert_no_registered_model(server, name)


def test_invalid_field_is_a_validation_error_naming_it(dev_env: str, dev_run: str) -> None:
    with pytest.raises(hokusai.ValidationError, match="model_type") as info:
        hokusai.ModelRegistry().register_model(unique("sdk-bad"), "not a type!",
                                               mlflow_run_id=dev_run)
    assert info.value.status_code == 400


def test_reader_key_setup_names_model_write(server: ServerProcess, reader_key: str) -> None:
    with pytest.raises(hokusai.PermissionDeniedError, match="model:write") as info:
        hokusai.setup(api_key=reader_key, endpoint=server.url)
    assert info.value.required_scope == "model:write"
    assert "MLFLOW_TRACKING_TOKEN" not in os.environ
    # The same key may still read, and the server itself refuses it a registration.
    assert hokusai.setup(api_key=reader_key, endpoint=server.url, require=("model:read",))
    with pytest.raises(hokusai.PermissionDeniedError, match="model:write"):
        hokusai.ModelRegistry(api_key=reader_key, endpoint=server.url).register_model(
            unique("sdk-reader"), "classifier", mlflow_run_id="0" * 32)


def test_a_wrong_key_is_an_authentication_error(server: ServerProcess, dev_key: str) -> None:
    wrong = dev_key[:-8] + ("A" if dev_key[-8] != "A" else "B") + dev_key[-7:]
    with pytest.raises(hokusai.AuthenticationError) as info:
        hokusai.setup(api_key=wrong, endpoint=server.url)
    assert info.value.status_code == 401
    assert wrong not in str(info.value) and dev_key not in str(info.value)


def test_unreachable_endpoint_is_named(dev_key: str) -> None:
    url = closed_port_url()
    with pytest.raises(hokusai.EndpointUnreachableError) as info:
        hokusai.setup(api_key=dev_key, endpoint=url)
    assert url in str(info.value)


# -- mock mode beside a real server -----------------------------------------------------------


def test_mock_mode_answers_without_the_server(dev_key: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_MOCK_MODE", "true")
    url = closed_port_url()
    who = hokusai.setup(api_key=dev_key, endpoint=url)
    assert who.user_id == "mock-user"
    mv = hokusai.ModelRegistry().register_model("m", "classifier", mlflow_run_id="0" * 32)
    assert mv.version == "1"


@pytest.mark.parametrize("value", ["True", "1"])
def test_mock_mode_spelled_otherwise_talks_to_the_real_server(
        server: ServerProcess, dev_env: str, monkeypatch: pytest.MonkeyPatch,
        value: str) -> None:
    monkeypatch.setenv("HOKUSAI_MOCK_MODE", value)
    assert hokusai.setup().user_id == "sdk-dev"
    with pytest.raises(hokusai.NotFoundError):  # a mock would have registered version 1
        hokusai.ModelRegistry().register_model(unique("sdk-notmock"), "classifier",
                                               mlflow_run_id="0" * 32)


# -- the console script -----------------------------------------------------------------------


def hokusai_cli() -> Path:
    script = Path(sys.executable).parent / "hokusai"
    if not script.exists():
        pytest.fail(f"no `hokusai` console script next to {sys.executable}: install the SDK "
                    f"(pip install ./sdk/python) into this venv")
    return script


def run_cli(args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env)
    return subprocess.run([str(hokusai_cli()), *args], capture_output=True, text=True,
                          env=full_env, stdin=subprocess.DEVNULL, timeout=120)


@pytest.fixture
def cli_env(server: ServerProcess, dev_key: str) -> Iterator[Dict[str, str]]:
    yield {"HOKUSAI_API_KEY": dev_key, "HOKUSAI_API_ENDPOINT": server.url}


def test_cli_whoami(cli_env: Dict[str, str], dev_key: str) -> None:
    done = run_cli(["whoami"], cli_env)
    assert done.returncode == 0, done.stderr
    assert "sdk-dev" in done.stdout and "model:write" in done.stdout
    assert dev_key[:8] in done.stdout  # the prefix
    assert dev_key not in done.stdout + done.stderr
    assert not KEY_SHAPE.search(done.stdout + done.stderr)


def test_cli_register_get_list_transition(cli_env: Dict[str, str], dev_run: str) -> None:
    name = unique("sdk-cli")
    done = run_cli(["model", "register", "--name", name, "--type", "classifier", "--run-id",
                    dev_run, "--version-label", "v2", "--metric", "accuracy=0.97",
                    "--tag", "team=vision", "--alias", "champion", "--idempotency-key",
                    unique("cli"), "--json"], cli_env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["model_name"], body["version"], body["version_label"]) == (name, "1", "v2")
    assert body["metrics"] == {"accuracy": 0.97}

    done = run_cli(["model", "get", name, "1"], cli_env)
    assert done.returncode == 0 and f"{name}/1" in done.stdout

    done = run_cli(["model", "list", "--name", name], cli_env)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2

    done = run_cli(["model", "transition", name, "1", "Staging", "--json"], cli_env)
    assert done.returncode == 0 and json.loads(done.stdout)["stage"] == "Staging"


def test_cli_failure_exits_non_zero_with_the_message(cli_env: Dict[str, str]) -> None:
    done = run_cli(["model", "register", "--name", unique("sdk-cli"), "--type", "classifier",
                    "--run-id", "0" * 32], cli_env)
    assert done.returncode == 1
    assert done.stderr.startswith("hokusai: error: ") and "0" * 32 in done.stderr


def test_cli_names_an_unreachable_endpoint(cli_env: Dict[str, str]) -> None:
    url = closed_port_url()
    done = run_cli(["whoami", "--endpoint", url], cli_env)
    assert done.returncode == 1 and url in done.stderr


# -- last: nothing the suite did put a key into the server's log ------------------------------


def test_zz_no_key_in_the_server_log(server: ServerProcess) -> None:
    log = server.log_path.read_text(errors="replace")
    assert server.secrets and not [s for s in server.secrets if s in log]
    assert not KEY_SHAPE.search(log)
