"""Fixtures for the Hokusai Registry integration suite.

Run from the repository root, once per venv:

    <venv>/bin/python -m pytest tests/integration                  # against the Hokusai binary
    <venv>/bin/python -m pytest tests/integration --target=mlflow  # same tests, real `mlflow server`
    <venv>/bin/python -m pytest tests/integration --target=gateway # through the gateway to mlflow

The Hokusai binary is $HOKUSAI_BIN, else build/asan/hokusai-registry if present, else
build/release/hokusai-registry (relative to the repository root). Tests marked `hokusai_only` are
deselected (reported as "deselected", never skipped) under --target=mlflow; tests marked
`requires_mlflow3` are deselected when the venv's client is mlflow 2.x, and `requires_mlflow3_server`
ones when, in addition, the target is that venv's (2.x) `mlflow server`.

--target=gateway: every Hokusai server the suite starts (the session `server`, `fresh_server`, module
servers such as test_keys.py's) runs in gateway mode, `serve --upstream <url>`, in front of a real
`mlflow server` of its own from the running venv (itest_helpers.set_gateway_mode). The `server` object
is the Hokusai one (admin key, create_key, api(), http, keys CLI); `server.upstream` is the real
server and `server.artifacts_dir` its artifact directory. Only the modules in GATEWAY_MODULES run;
tests in them marked `native_only` (each with its reason) are deselected, never skipped.

Every server gets its own temporary working directory; Hokusai is started with
`--artifacts-destination <workdir>/artifacts`, the real server with `<workdir>/art`
(`server.artifacts_dir` either way). Server logs (stdout and stderr) of the whole session go to one
directory, `<basetemp>/server-logs0/` (itest_helpers.session_log_dir()).

API keys: every Hokusai server gets an admin key from the offline CLI before it starts
(`server.admin_key`). `server.api()`, the `api` fixture, `server.http`, `raw_get` and `raw_request`
send it by default; tests that use the session `server` (directly or through `client`,
`tracking_uri`, ...) run with MLFLOW_TRACKING_TOKEN set to it, and `fresh_server` sets it to the key
of the server it starts last. Under --target=mlflow there are no keys and nothing is sent.
"""

from __future__ import annotations

import os

# Before mlflow is imported anywhere: a server bug must fail fast instead of being retried for
# minutes, and nothing may phone home.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "20"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import pytest  # noqa: E402

from itest_helpers import (  # noqa: E402
    ARTIFACT_BACKEND,
    CLIENT_ENV_TO_CLEAR,
    STORE_BACKEND,
    Api,
    ServerProcess,
    drop_postgres_databases,
    set_gateway_mode,
    set_session_log_dir,
    stop_all_upstreams,
)

# --target=gateway runs these modules through the gateway (docs/testing.md "Gateway mode"). The others
# are deselected as a whole, each for its reason:
#   test_http_protocol.py  our HTTP edge and our native validation beyond MLflow; the gateway's edge
#                          (mount spellings, refusals, framing) is test_gateway_protocol.py's
#   test_path_safety.py    plants files in our own artifact root; the upstream owns artifacts there
#   test_durability.py     kill -9 of our SQLite store under a stream of log-batch calls
#   test_large_artifact.py the native streaming path; test_gateway_large_artifact.py is the gateway's
#   test_parity.py         compares a native Hokusai server with the real one
#   test_authz_matrix.py   snapshots our store and artifact directory around every denied call
#   test_external_auth.py  the auth-service client, the same code in both modes
#   test_tenants.py        its worlds (test_authz_matrix.build_world) log logged-model params without
#                          `model_id` in the body, which only our native server accepts (the real
#                          server answers 400); the gateway's tenant checks are in test_gateway.py
#   test_registration.py, test_events.py   the registration API and its events, native for now
#   test_gateway*.py       start their own gateways and upstreams; they run in the default pass
GATEWAY_MODULES = {
    "test_client_journeys.py",
    "test_registry.py",
    "test_artifacts.py",
    "test_client_v2.py",
    "test_keys.py",
    "test_zz_no_secrets_in_logs.py",  # every log of the pass, the upstreams' included
}


# --------------------------------------------------------------------------------------------------
# Options, markers, selection
# --------------------------------------------------------------------------------------------------


def pytest_addoption(parser):
    parser.addoption(
        "--target",
        choices=("hokusai", "mlflow", "gateway"),
        default="hokusai",
        help="which server the `server` fixture starts: the Hokusai binary (default), the real "
        "`mlflow server` from the running venv (hokusai_only tests are then deselected), or the "
        "Hokusai binary in gateway mode in front of a real `mlflow server` (only GATEWAY_MODULES "
        "run; native_only tests are deselected)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "hokusai_only: needs the Hokusai binary; deselected (not skipped) under --target=mlflow",
    )
    config.addinivalue_line(
        "markers",
        "requires_mlflow3: uses MLflow-3-only client APIs (logged models, `name=` in log_model, "
        "models:/m-<id>); deselected (not skipped) when the client is mlflow 2.x",
    )
    config.addinivalue_line(
        "markers",
        "requires_mlflow3_server: needs an MLflow-3 server API (logged models, server-info) but no "
        "MLflow-3 client API; deselected (not skipped) only under --target=mlflow or "
        "--target=gateway (whose upstream is the venv's server) with a 2.x venv",
    )
    config.addinivalue_line(
        "markers",
        "native_only: checks what only the native server does (its own store or artifact directory, "
        "validation beyond MLflow's); deselected (not skipped) under --target=gateway",
    )
    config.addinivalue_line(
        "markers",
        "local_artifacts_only: plants files or links in a local artifact directory; deselected "
        "(not skipped) when HOKUSAI_TEST_ARTIFACTS=s3 (object keys have no links or directories)",
    )
    config.addinivalue_line(
        "markers",
        "requires_postgres: several replicas on one shared store (test_replicas.py); deselected "
        "(not skipped) unless HOKUSAI_TEST_BACKEND=postgres (scripts/test.sh runs that leg)",
    )
    if config.getoption("--target") == "gateway":
        set_gateway_mode(True)


def _client_major() -> int | None:
    try:
        from itest_helpers import mlflow_major

        return mlflow_major()
    except ImportError:
        return None


def pytest_collection_modifyitems(config, items):
    target = config.getoption("--target")
    drop_hokusai_only = target == "mlflow"
    gateway = target == "gateway"
    major = _client_major()
    drop_mlflow3 = major is not None and major < 3
    # The real server (the target, or the gateway's upstream) comes from the same venv.
    drop_mlflow3_server = drop_mlflow3 and target in ("mlflow", "gateway")
    keep, drop = [], []
    for item in items:
        deselect = (
            (drop_hokusai_only and item.get_closest_marker("hokusai_only"))
            or (drop_mlflow3 and item.get_closest_marker("requires_mlflow3"))
            or (drop_mlflow3_server and item.get_closest_marker("requires_mlflow3_server"))
            or (gateway and item.get_closest_marker("native_only"))
            or (gateway and item.path.name not in GATEWAY_MODULES)
            or (STORE_BACKEND != "postgres" and item.get_closest_marker("requires_postgres"))
            or (ARTIFACT_BACKEND == "s3" and item.get_closest_marker("local_artifacts_only"))
        )
        (drop if deselect else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    from itest_helpers import hokusai_binary

    target = config.getoption("--target")
    line = f"integration target: {target}, store: {STORE_BACKEND}, artifacts: {ARTIFACT_BACKEND}"
    if target in ("hokusai", "gateway"):
        line += f" (binary: {hokusai_binary()})"
    if target == "gateway":
        line += " in front of the venv's `mlflow server`"
    try:
        import mlflow

        line += f"; mlflow client {mlflow.__version__}"
    except ImportError:
        line += "; mlflow NOT importable"
    return line


# --------------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _session_server_logs(tmp_path_factory):
    """One directory for every server and key-CLI log of the session (read by
    test_zz_no_secrets_in_logs.py); set before any server starts."""
    set_session_log_dir(tmp_path_factory.mktemp("server-logs"))
    yield
    stop_all_upstreams()  # gateway mode: upstreams whose gateway was not stopped for good
    drop_postgres_databases()  # postgres backend: each server's database


@pytest.fixture(scope="session")
def target(request) -> str:
    return request.config.getoption("--target")


@pytest.fixture(scope="session")
def server(target, tmp_path_factory):
    """The session-wide server under test (Hokusai, the real MLflow server with --target=mlflow, or
    Hokusai in gateway mode in front of a real MLflow server with --target=gateway)."""
    srv = ServerProcess(target, tmp_path_factory.mktemp(f"{target}-session"))
    srv.start()
    yield srv
    srv.stop_gracefully_or_fail()


@pytest.fixture
def fresh_server(target, tmp_path_factory, monkeypatch):
    """Factory: start a brand-new server in a new temp dir (or `workdir=` to reuse a database;
    `extra_args=` appends flags to the standard command line; `admin_key=False` starts Hokusai on an
    empty key store, without the offline admin key).

    `kind` defaults to the --target. MLFLOW_TRACKING_TOKEN is set to the admin key of the server
    started last. Servers still running at the end of the test are stopped with SIGTERM; a Hokusai
    server must then exit 0 within 10 s.
    """
    started: list[ServerProcess] = []

    def start(kind: str | None = None, workdir=None, extra_args=None, admin_key: bool = True) -> ServerProcess:
        kind = kind or target
        srv = ServerProcess(kind, workdir or tmp_path_factory.mktemp(f"{kind}-fresh"), extra_args,
                            admin_key=admin_key)
        srv.start()
        started.append(srv)
        if srv.admin_key:
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", srv.admin_key)
        return srv

    yield start
    problems = [p for p in (srv.graceful_stop_problem() for srv in started if srv.alive()) if p]
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A fresh REAL `mlflow server` from the running venv (sqlite backend, proxied artifacts), one per
    test module (start-up takes seconds), for differential tests."""
    srv = ServerProcess("mlflow", tmp_path_factory.mktemp("mlflow-real"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _server_must_survive_each_test(request):
    """If a test took the session server down, say so at that test rather than later."""
    yield
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        if not srv.alive():
            pytest.fail(
                f"the {srv.kind} server died during this test (exit code {srv.proc.returncode}).\n"
                f"--- log ---\n{srv.log_text()}"
            )


# --------------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_mlflow_client_state(request, monkeypatch):
    """No tracking URI, credential, experiment or run leaks in from the environment or from another
    test. A test that uses the session `server` gets MLFLOW_TRACKING_TOKEN = its admin key."""
    for name in CLIENT_ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    if "server" in request.fixturenames:
        key = request.getfixturevalue("server").admin_key
        if key:
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
    yield
    try:
        import mlflow
        import mlflow.tracking.fluent as fluent
    except ImportError:
        return
    try:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    except Exception:  # the server may already be gone (fresh servers); never mask the real result
        pass
    fluent._active_experiment_id = None


@pytest.fixture
def client(server):
    """mlflow.MlflowClient bound to the server under test."""
    import mlflow

    return mlflow.MlflowClient(tracking_uri=server.url)


@pytest.fixture
def tracking_uri(server, monkeypatch) -> str:
    """MLFLOW_TRACKING_URI set for fluent-API tests (mlflow.start_run, mlflow.log_metric, ...)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    return server.url


@pytest.fixture(scope="session")
def models():
    """Two trained scikit-learn classifiers with different predictions (itest_helpers.TrainedModels)."""
    from itest_helpers import train_models

    return train_models()


@pytest.fixture
def api(server) -> Api:
    """requests wrapper with the admin key: api.post("/runs/create", {...}), api.get("/runs/get", {...})."""
    return server.api()
