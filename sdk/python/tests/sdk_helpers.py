"""Self-contained helpers for the SDK suite: the real server binary on a free port in a temp dir
(with an admin key minted offline before it starts), and a tiny scripted HTTP double.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[3]
KEY_SHAPE = re.compile(r"hk_(?:live|test|dev)_[0-9A-Za-z]{46}")
STARTUP_TIMEOUT_S = 30.0
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just released)."""
    return f"http://127.0.0.1:{free_port()}"


def hokusai_binary() -> Path:
    """$HOKUSAI_BIN (a relative path is taken from the current directory), else
    build/asan/hokusai-registry in the repository; always absolute (servers run elsewhere)."""
    env = os.environ.get("HOKUSAI_BIN")
    return Path(env).resolve() if env else REPO_ROOT / "build" / "asan" / "hokusai-registry"


def require_binary() -> Path:
    binary = hokusai_binary()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"the Hokusai binary is missing: {binary} (build it, or set HOKUSAI_BIN); the "
                    f"SDK integration tests never skip")
    return binary


class ServerProcess:
    """`hokusai-registry serve` in its own directory, with an offline-minted admin key."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "server.log"
        self.port = 0
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.admin_key = ""
        self.secrets: List[str] = []  # every key secret this suite saw for this server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store_uri(self) -> str:
        return f"sqlite:///{self.workdir / 'registry.db'}"

    def _env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(QUIET_ENV)
        for name in ("HOKUSAI_API_KEY", "HOKUSAI_API_ENDPOINT", "HOKUSAI_MOCK_MODE"):
            env.pop(name, None)
        return env

    def mint_admin_key(self) -> None:
        cmd = [str(require_binary()), "keys", "create", "--user", "sdk-admin", "--admin-user",
               "--template", "admin", "--name", "sdk-admin", "--rate-limit-per-hour", "1000000000",
               "--json", "--backend-store-uri", self.store_uri]
        done = subprocess.run(cmd, cwd=self.workdir, capture_output=True, env=self._env(),
                              stdin=subprocess.DEVNULL, timeout=60)
        assert done.returncode == 0, f"keys create failed: {done.stderr.decode(errors='replace')}"
        body = json.loads(done.stdout)
        assert KEY_SHAPE.fullmatch(body["api_key"]), "keys create printed no key"
        self.admin_key = body["api_key"]
        self.secrets.append(self.admin_key)

    def start(self) -> "ServerProcess":
        if not self.admin_key:
            self.mint_admin_key()
        self.port = free_port()
        cmd = [str(require_binary()), "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--backend-store-uri", self.store_uri,
               "--artifacts-destination", str(self.workdir / "artifacts")]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, env=self._env())
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"hokusai-registry exited during start-up ({self.proc.returncode}):\n"
                            f"{self.log_text()}")
            try:
                if requests.get(self.url + "/health", timeout=1).text == "OK":
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.proc.kill()
        pytest.fail(f"hokusai-registry did not become healthy:\n{self.log_text()}")

    def stop(self) -> Optional[int]:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
            return None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except FileNotFoundError:
            return "<no log>"

    def create_key(self, user_id: str, template: str) -> str:
        """POST /api/v1/keys with the admin key: a new key for `user_id` from `template`."""
        resp = requests.post(self.url + "/api/v1/keys", timeout=30,
                             headers={"Authorization": f"Bearer {self.admin_key}"},
                             json={"name": unique(template), "user_id": user_id,
                                   "template": template})
        assert resp.status_code == 201, f"POST /api/v1/keys -> {resp.status_code} {resp.text}"
        key = resp.json()["api_key"]
        assert KEY_SHAPE.fullmatch(key)
        self.secrets.append(key)
        return key

    def admin_post(self, path: str, body: Dict[str, Any]) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=30,
                             headers={"Authorization": f"Bearer {self.admin_key}"})


# --------------------------------------------------------------------------------------------------
# HTTP double
# --------------------------------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None                       # JSON-encoded unless raw is given
    headers: Dict[str, str] = field(default_factory=dict)
    raw: Optional[bytes] = None
    drop: bool = False                     # close the connection without answering
    delay: float = 0.0                     # seconds to wait before answering


class HttpDouble:
    """A scripted server on 127.0.0.1: `script(method, path_prefix, *replies)` queues answers
    for matching requests (the last one repeats); everything received is in `requests`."""

    def __init__(self) -> None:
        self.requests: List[Recorded] = []
        self._scripts: List[Tuple[str, str, List[Reply]]] = []
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                reply = double._next(self.command, self.path,
                                     Recorded(self.command, self.path, dict(self.headers), body))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = reply.raw if reply.raw is not None else (
                    b"" if reply.body is None else json.dumps(reply.body).encode())
                self.send_response(reply.status)
                if reply.raw is None and reply.body is not None:
                    self.send_header("Content-Type", "application/json")
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, method: str, path_prefix: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts.insert(0, (method, path_prefix, list(replies)))

    def _next(self, method: str, path: str, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            for m, prefix, replies in self._scripts:
                if m == method and path.startswith(prefix):
                    return replies.pop(0) if len(replies) > 1 else replies[0]
        return Reply(404)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def whoami_body(scopes: List[str], user: str = "alice") -> Dict[str, Any]:
    """A whoami answer shaped like the server's."""
    return {"user_id": user, "email": f"{user}@example.invalid", "roles": [], "is_admin": False,
            "user": {"id": user, "email": f"{user}@example.invalid", "roles": [],
                     "is_admin": False},
            "key_id": "k-123", "key_prefix": "hk_test_", "key_name": "ci",
            "environment": "test", "scopes": scopes, "expires_at": None,
            "rate_limit_per_hour": 100000, "rate_limit_remaining": 99999,
            "tracking_uri": "http://example.invalid", "environment_lines": []}


def version_body(name: str = "m", version: str = "1", **extra: Any) -> Dict[str, Any]:
    """A registration answer shaped like spec §3's 201."""
    body = {"model_id": f"{name}/{version}", "model_name": name, "version": version,
            "version_label": "v1.0.0", "model_type": "classifier", "metrics": {"acc": 0.9},
            "status": "registered", "registration_timestamp": "2024-05-01T12:00:00Z",
            "mlflow_run_id": "r1", "source": "mlflow-artifacts:/1/r1/artifacts/model"}
    body.update(extra)
    return body


# A well-formed but made-up key: tests look for it anywhere it must not be.
FAKE_KEY = "hk_test_" + "Q7x" * 13 + "Z" + "abc123"
assert KEY_SHAPE.fullmatch(FAKE_KEY)
