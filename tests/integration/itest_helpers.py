"""Shared helpers for the integration suite: server processes, a small REST wrapper, raw HTTP.

Nothing here talks to anything but 127.0.0.1, and every server lives in its own temporary directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
API_PREFIX = "/api/2.0/mlflow"

HOKUSAI_STARTUP_TIMEOUT_S = 20.0
MLFLOW_STARTUP_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 30.0

# Environment given to every server process we start (and applied to this process by conftest):
# no telemetry, nothing leaves the machine.
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


# Client environment cleared before every test (conftest) so nothing leaks in.
CLIENT_ENV_TO_CLEAR = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_WORKSPACE",
)


def unique(prefix: str) -> str:
    """A name that cannot collide with anything else created in the same server."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hokusai_binary() -> Path:
    """HOKUSAI_BIN, else build/asan/hokusai-registry if it exists, else build/release/hokusai-registry."""
    env = os.environ.get("HOKUSAI_BIN")
    if env:
        return Path(env)
    asan = REPO_ROOT / "build" / "asan" / "hokusai-registry"
    if asan.exists():
        return asan
    return REPO_ROOT / "build" / "release" / "hokusai-registry"


def mlflow_executable() -> Path:
    """The `mlflow` console script of the venv running pytest."""
    candidate = Path(sys.executable).parent / "mlflow"
    if candidate.exists():
        return candidate
    pytest.fail(f"no `mlflow` executable next to {sys.executable}; run the suite with a venv's python")


# --------------------------------------------------------------------------------------------------
# Server processes
# --------------------------------------------------------------------------------------------------


class ServerProcess:
    """One server (Hokusai or the real MLflow server) in its own working directory.

    start() may be called again after stop()/kill9(): the new process uses the same directory (and
    therefore the same database) on a new free port, and appends to the same log file.
    """

    def __init__(self, kind: str, workdir: Path, extra_args: list[str] | None = None):
        assert kind in ("hokusai", "mlflow"), kind
        self.kind = kind
        self.extra_args = list(extra_args or [])  # appended to the standard command line
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / ("hokusai.log" if kind == "hokusai" else "mlflow-server.log")
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.generation = 0

    # -- properties -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.workdir / ("registry.db" if self.kind == "hokusai" else "mlflow.db")

    @property
    def artifacts_dir(self) -> Path:
        """Where this server stores proxied artifacts (`--artifacts-destination`), inside workdir."""
        return self.workdir / ("artifacts" if self.kind == "hokusai" else "art")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def api(self) -> "Api":
        return Api(self.url)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, limit: int = 20000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "<no log file>"
        return text if len(text) <= limit else "...\n" + text[-limit:]

    # -- lifecycle --------------------------------------------------------------------------------

    def command(self) -> list[str]:
        if self.kind == "hokusai":
            binary = hokusai_binary()
            if not binary.exists():
                pytest.fail(
                    f"Hokusai binary not found at {binary} (set HOKUSAI_BIN, or build build/asan or "
                    f"build/release). Use --target=mlflow to run the shared tests against the real "
                    f"MLflow server."
                )
            return [
                str(binary), "serve",
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--backend-store-uri", f"sqlite:///{self.db_path}",
                "--artifacts-destination", str(self.artifacts_dir),
            ] + self.extra_args
        art = self.artifacts_dir
        art.mkdir(exist_ok=True)
        return [
            str(mlflow_executable()), "server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--backend-store-uri", f"sqlite:///{self.db_path}",
            "--artifacts-destination", str(art),
            "--workers", "1",
        ] + self.extra_args

    def start(self) -> "ServerProcess":
        assert not self.alive(), "already running"
        self.port = free_port()
        self.generation += 1
        cmd = self.command()
        env = dict(os.environ)
        env.update(QUIET_ENV)
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.generation}: {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # own process group: the real mlflow server forks workers
            )
        timeout = HOKUSAI_STARTUP_TIMEOUT_S if self.kind == "hokusai" else MLFLOW_STARTUP_TIMEOUT_S
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"{self.kind} server exited during start-up with code {self.proc.returncode}.\n"
                    f"--- log {self.log_path} ---\n{self.log_text()}"
                )
            try:
                r = requests.get(self.url + "/health", timeout=1)
                if r.status_code == 200 and r.text == "OK":
                    return
                last = f"HTTP {r.status_code} {r.text[:200]!r}"
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.05)
        self._force_kill()
        pytest.fail(
            f"{self.kind} server did not answer GET /health with 200 'OK' within {timeout:.0f} s "
            f"(last: {last}).\n--- log {self.log_path} ---\n{self.log_text()}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = SHUTDOWN_TIMEOUT_S) -> int | None:
        """Sends `sig` and waits. Returns the exit code, or None if it had to be SIGKILLed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self._signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._force_kill()
            return None

    def send_signal(self, sig: int) -> None:
        self._signal(sig)

    def wait(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill9(self) -> None:
        """SIGKILL the server (only the binary, so it gets no chance to clean up)."""
        assert self.alive()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)

    def _signal(self, sig: int) -> None:
        if self.kind == "mlflow":
            # The mlflow CLI starts uvicorn workers in the same (new) process group.
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        else:
            self.proc.send_signal(sig)

    def _force_kill(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass

    def graceful_stop_problem(self) -> str | None:
        """SIGTERM and wait. For Hokusai, returns what went wrong if the process did not exit with
        code 0 within 10 s (graceful shutdown is a requirement); None when all is well."""
        was_alive = self.alive()
        rc = self.stop()
        if self.kind != "hokusai":
            return None
        if not was_alive:
            return (f"Hokusai server had already exited (code {rc}) before shutdown was requested.\n"
                    f"--- log ---\n{self.log_text()}")
        if rc is None:
            return (f"Hokusai server did not exit within {SHUTDOWN_TIMEOUT_S:.0f} s of SIGTERM.\n"
                    f"--- log ---\n{self.log_text()}")
        if rc != 0:
            return f"Hokusai server exited with code {rc} after SIGTERM (expected 0).\n--- log ---\n{self.log_text()}"
        return None

    def stop_gracefully_or_fail(self) -> None:
        problem = self.graceful_stop_problem()
        if problem:
            pytest.fail(problem)


# --------------------------------------------------------------------------------------------------
# REST wrapper
# --------------------------------------------------------------------------------------------------


class Api:
    """Tiny requests wrapper for /api/2.0/mlflow/... ; paths are given without that prefix."""

    def __init__(self, base_url: str, prefix: str = API_PREFIX):
        self.base_url = base_url
        self.prefix = prefix
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return self.base_url + self.prefix + path

    def post(self, path: str, json=None, **kw) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        return self.session.post(self.url(path), json=json, **kw)

    def get(self, path: str, params=None, **kw) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        return self.session.get(self.url(path), params=params, **kw)

    # -- conveniences -----------------------------------------------------------------------------

    def ok(self, resp: requests.Response) -> dict:
        assert resp.status_code == 200, f"{resp.request.method} {resp.url} -> {resp.status_code}: {resp.text[:500]}"
        return resp.json() if resp.content.strip() else {}

    def create_experiment(self, name: str | None = None) -> str:
        return self.ok(self.post("/experiments/create", {"name": name or unique("exp")}))["experiment_id"]

    def create_run(self, experiment_id: str = "0", **fields) -> str:
        body = {"experiment_id": experiment_id, "start_time": fields.pop("start_time", 1_700_000_000_000)}
        body.update(fields)
        return self.ok(self.post("/runs/create", body))["run"]["info"]["run_id"]

    def get_run(self, run_id: str) -> dict:
        return self.ok(self.get("/runs/get", {"run_id": run_id}))["run"]

    def run_data(self, run_id: str) -> dict:
        data = self.get_run(run_id).get("data", {})
        return {
            "metrics": {m["key"]: m for m in data.get("metrics", [])},
            "params": {p["key"]: p["value"] for p in data.get("params", [])},
            "tags": {t["key"]: t["value"] for t in data.get("tags", [])},
        }

    def metric_history(self, run_id: str, key: str, page_size: int = 1000) -> list[dict]:
        """Every point of a metric, following next_page_token."""
        points: list[dict] = []
        token = None
        for _ in range(10000):
            params = {"run_id": run_id, "metric_key": key, "max_results": page_size}
            if token:
                params["page_token"] = token
            body = self.ok(self.get("/metrics/get-history", params))
            points.extend(body.get("metrics", []))
            token = body.get("next_page_token")
            if not token:
                return points
        raise AssertionError("get-history pagination did not terminate")


def error_of(resp: requests.Response) -> tuple[int, str | None, str]:
    """(status, error_code, message) of an error response; error_code None when the body is not JSON."""
    try:
        body = resp.json()
    except ValueError:
        return resp.status_code, None, resp.text
    if not isinstance(body, dict):
        return resp.status_code, None, resp.text
    return resp.status_code, body.get("error_code"), body.get("message", "")


def assert_error(resp: requests.Response, status: int, codes, message_prefix: str | None = None) -> dict:
    if isinstance(codes, str):
        codes = (codes,)
    got_status, code, message = error_of(resp)
    assert got_status == status and code in codes, (
        f"{resp.request.method} {resp.url}: expected {status} {codes}, got {got_status} {resp.text[:500]!r}"
    )
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    assert isinstance(message, str) and message, f"error without a message: {resp.text[:300]!r}"
    if message_prefix is not None:
        assert message.startswith(message_prefix), f"message {message!r} does not start with {message_prefix!r}"
    return resp.json()


# --------------------------------------------------------------------------------------------------
# Raw HTTP (no client-side normalisation of the request target)
# --------------------------------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int | None
    reason: str
    headers: dict[str, str]
    body: bytes
    raw: bytes
    closed: bool = False  # the server closed the connection after this response
    error: str | None = None

    def json(self):
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _recv_until(sock: socket.socket, buf: bytearray, predicate, deadline: float) -> bool:
    """Reads into buf until predicate(buf) or EOF. Returns False on EOF."""
    while not predicate(buf):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("read deadline")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buf.extend(chunk)
    return True


def read_response(sock: socket.socket, timeout: float = 15.0, head_only: bool = False) -> RawResponse:
    """Reads one HTTP/1.1 response (Content-Length or chunked or read-to-close) from sock."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    got_head = _recv_until(sock, buf, lambda b: b"\r\n\r\n" in b, deadline)
    if not got_head:
        return RawResponse(None, "", {}, b"", bytes(buf), closed=True,
                           error="connection closed before a complete response head")
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = bytearray(rest)
    closed = False
    if head_only:
        pass
    elif "content-length" in headers:
        n = int(headers["content-length"])
        if not _recv_until(sock, body, lambda b: len(b) >= n, deadline):
            closed = True
        body = body[:n]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        decoded = bytearray()
        while True:
            if not _recv_until(sock, body, lambda b: b"\r\n" in b, deadline):
                closed = True
                break
            size_line, _, remainder = bytes(body).partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            body = bytearray(remainder)
            if not _recv_until(sock, body, lambda b: len(b) >= size + 2, deadline):
                closed = True
                break
            decoded.extend(body[:size])
            body = body[size + 2:]
            if size == 0:
                break
        body = decoded
    elif status not in (204, 304) and not (100 <= status < 200):
        # No framing: body runs to EOF.
        try:
            _recv_until(sock, body, lambda b: False, deadline)
        except socket.timeout:
            pass
        closed = True
    return RawResponse(status, reason, headers, bytes(body), bytes(buf), closed=closed)


def connection_closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True if the peer closes (EOF or reset) within `timeout`; False if the connection stays open."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
        return data == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def raw_exchange(port: int, data: bytes, timeout: float = 15.0, expect_close: bool = False) -> RawResponse:
    """Sends raw bytes on a fresh connection and reads one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        send_error = None
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The server may answer and close before reading everything we send (e.g. 431/413).
            send_error = repr(exc)
        try:
            resp = read_response(sock, timeout=timeout)
        except (ConnectionResetError, BrokenPipeError) as exc:
            return RawResponse(None, "", {}, b"", b"", closed=True, error=f"{send_error or ''} {exc!r}")
        if expect_close and not resp.closed:
            resp.closed = connection_closed_by_peer(sock)
        resp.error = send_error
        return resp


def raw_get(port: int, target: str | bytes, headers: dict[str, str] | None = None,
            timeout: float = 15.0) -> RawResponse:
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port, b"Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}".encode("latin-1"))
    return raw_exchange(port, b"\r\n".join(lines) + b"\r\n\r\n", timeout=timeout)


def raw_request(port: int, method: str, target: str | bytes, body: bytes = b"",
                headers: dict[str, str] | None = None, timeout: float = 15.0) -> RawResponse:
    """One request with the request target sent byte for byte (no normalisation of `..`, `%2e`,
    backslashes or NULs, which `requests` and urllib would rewrite or refuse)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port,
             b"Connection: close"]
    hdrs = dict(headers or {})
    if body or method in ("PUT", "POST", "PATCH"):
        hdrs.setdefault("Content-Length", str(len(body)))
    for k, v in hdrs.items():
        lines.append(f"{k}: {v}".encode("latin-1"))
    return raw_exchange(port, b"\r\n".join(lines) + b"\r\n\r\n" + body, timeout=timeout)


# --------------------------------------------------------------------------------------------------
# Client version, process memory, file-system snapshots
# --------------------------------------------------------------------------------------------------


def mlflow_major() -> int:
    import mlflow

    return int(mlflow.__version__.split(".")[0])


def proc_status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM, ...), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def reset_peak_rss(pid: int) -> bool:
    """Resets VmHWM of `pid` to its current RSS (Linux >= 4.0, `echo 5 > clear_refs`)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def tree_snapshot(root: Path, exclude: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """{relative path: (type, size, mtime_ns, link target)} for everything under root (lstat: links
    are not followed), skipping the `exclude` subtrees."""
    root = Path(root)
    excluded = {str(Path(e)) for e in exclude}
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if str(Path(dirpath) / d) not in excluded]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if str(p) in excluded:
                continue
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            kind = "link" if os.path.islink(p) else ("dir" if os.path.isdir(p) else "file")
            target = os.readlink(p) if kind == "link" else None
            out[str(p.relative_to(root))] = (kind, st.st_size if kind == "file" else 0,
                                             st.st_mtime_ns if kind == "file" else 0, target)
    return out


# --------------------------------------------------------------------------------------------------
# scikit-learn models for the registry journeys
# --------------------------------------------------------------------------------------------------

# Fixed requirements: skips the client's requirement inference (a subprocess that reloads the model),
# which says nothing about the server and costs seconds per model.
SKLEARN_PIP_REQUIREMENTS = ["scikit-learn", "numpy"]


@dataclass
class TrainedModels:
    """Two classifiers on the same inputs whose predictions differ, so a test can tell which model a
    models:/ URI resolved to."""
    X: object
    a: object  # trained on the iris labels
    b: object  # trained on shifted labels: predicts differently from `a` on X
    expected_a: object
    expected_b: object


def train_models() -> TrainedModels:
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    a = LogisticRegression(max_iter=500).fit(X, y)
    b = LogisticRegression(max_iter=500).fit(X, (y + 1) % 3)
    pa, pb = a.predict(X), b.predict(X)
    assert (pa != pb).mean() > 0.9
    return TrainedModels(X=np.asarray(X), a=a, b=b, expected_a=pa, expected_b=pb)


def log_sklearn_model(sk_model, name: str = "model", **kwargs):
    """mlflow.sklearn.log_model with the client's own spelling: `name=` on MLflow 3, the 2.x
    `artifact_path=` on MLflow 2. Returns the ModelInfo."""
    import mlflow.sklearn

    kwargs.setdefault("pip_requirements", SKLEARN_PIP_REQUIREMENTS)
    if mlflow_major() >= 3:
        return mlflow.sklearn.log_model(sk_model, name=name, **kwargs)
    return mlflow.sklearn.log_model(sk_model, artifact_path=name, **kwargs)


def predictions_of(model_uri: str, X):
    import mlflow.pyfunc
    import numpy as np

    return np.asarray(mlflow.pyfunc.load_model(model_uri).predict(X))


@contextlib.contextmanager
def fluent_tracking(url: str):
    """MLFLOW_TRACKING_URI for module-scoped fixtures (the function-scoped `tracking_uri` fixture
    cannot be used there); restores the environment and the client's active experiment afterwards."""
    import mlflow
    import mlflow.tracking.fluent as fluent

    with pytest.MonkeyPatch.context() as mp:
        for name in CLIENT_ENV_TO_CLEAR:
            mp.delenv(name, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", url)
        try:
            yield
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run()
            fluent._active_experiment_id = None
