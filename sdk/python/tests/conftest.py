"""Fixtures for the SDK suite (run from the repository root with a venv that has the SDK,
pytest, scikit-learn and mlflow installed):

    <venv>/bin/python -m pytest sdk/python/tests                       # everything
    <venv>/bin/python -m pytest sdk/python/tests -m "not integration"  # no server binary needed

Integration tests start $HOKUSAI_BIN (default build/asan/hokusai-registry) once per session on a
free port in a temp dir; when it is missing they fail, never skip.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, Iterator

# Before mlflow is imported anywhere: fail fast instead of retrying for minutes; no telemetry.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "20"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import pytest  # noqa: E402

import hokusai  # noqa: E402
from hokusai import _config  # noqa: E402
from sdk_helpers import HttpDouble, ServerProcess  # noqa: E402

# Variables a test must not inherit from the shell or from another test.
_CLEARED = ("HOKUSAI_API_KEY", "HOKUSAI_API_ENDPOINT", "HOKUSAI_MOCK_MODE", "MLFLOW_TRACKING_URI",
            "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID",
            "MLFLOW_RUN_ID")


@pytest.fixture(autouse=True)
def _isolated_state() -> Iterator[None]:
    """Each test starts with no Hokusai/MLflow client variables, no remembered setup() and an
    empty mock registry, and whatever it (or setup()) put into os.environ is undone."""
    saved: Dict[str, str] = dict(os.environ)
    for name in _CLEARED:
        os.environ.pop(name, None)
    _config.forget()
    hokusai.mock.reset()
    yield
    if "mlflow" in sys.modules:
        import mlflow
        import mlflow.tracking.fluent as fluent

        try:
            while mlflow.active_run() is not None:
                mlflow.end_run()
        except Exception:  # the server may be gone; never mask the test's own result
            pass
        fluent._active_experiment_id = None
    os.environ.clear()
    os.environ.update(saved)
    _config.forget()


@pytest.fixture
def double() -> Iterator[HttpDouble]:
    d = HttpDouble()
    yield d
    d.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: Any) -> Iterator[ServerProcess]:
    """The real hokusai-registry, one per session."""
    srv = ServerProcess(tmp_path_factory.mktemp("hokusai-server"))
    srv.start()
    yield srv
    rc = srv.stop()
    if rc != 0:
        pytest.fail(f"hokusai-registry exited with {rc} on SIGTERM:\n{srv.log_text()}")


@pytest.fixture(scope="session")
def dev_key(server: ServerProcess) -> str:
    """A developer-template key of user sdk-dev, created through the admin API."""
    return server.create_key("sdk-dev", "developer")


@pytest.fixture(scope="session")
def reader_key(server: ServerProcess) -> str:
    """A reader-template key of user sdk-reader."""
    return server.create_key("sdk-reader", "reader")


@pytest.fixture
def dev_env(server: ServerProcess, dev_key: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """HOKUSAI_API_KEY / HOKUSAI_API_ENDPOINT set to the developer key and the server."""
    monkeypatch.setenv("HOKUSAI_API_KEY", dev_key)
    monkeypatch.setenv("HOKUSAI_API_ENDPOINT", server.url)
    return dev_key
