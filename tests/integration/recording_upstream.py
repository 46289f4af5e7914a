"""A recording stand-in for an upstream MLflow server, for the gateway tests.

`RecordingUpstream` is a small threaded HTTP/1.1 server on 127.0.0.1 (in the pytest process) that
records every request it receives exactly as it arrived — method, raw request target, every header
line in order (duplicates kept, values as raw bytes decoded latin-1), the de-framed body and the
framing used — and answers with canned MLflow-like JSON. Its own parser is deliberately literal: it
does not fold, merge or normalise anything, so a test sees what the gateway put on the wire.

    up = RecordingUpstream("name").start()        # up.url, up.port
    up.on("/api/2.0/mlflow/experiments/get", status=302, headers={"Location": "http://..."})
    up.on("/api/2.0/mlflow/runs/get", delay=5)     # a slow upstream
    up.requests                                   # list[Recorded]
    up.matching("/experiments/create")            # the recorded requests whose path contains it
    up.stop()

Canned answers (any route not listed: `{}` with 200): experiments create/get/get-by-name/search,
runs create/get/search, registered-models create/get/search, model-versions create/get,
mlflow-artifacts list (`{"files": []}`), uploads and downloads of artifacts, `/health` (`OK`).
Experiment and run ids handed out count up from 1; every canned run belongs to experiment "0" unless
a test says otherwise with `on(...)`.

Every recorded request is also written to `<session log dir>/<name>-recording-upstream.log`, so
test_zz_no_secrets_in_logs.py checks that no key reached this upstream either (the credentials the
gateway is configured to send are masked there: `redact=`; they are checked by the tests).
"""

from __future__ import annotations

import itertools
import json
import socket
import socketserver
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from itest_helpers import session_log_dir

MAX_HEAD = 256 * 1024
MAX_BODY = 64 * 1024 * 1024  # what a test sends through this double is small; artifacts are capped


@dataclass
class Recorded:
    """One request as the upstream received it."""
    method: str
    target: str                      # the raw request target, byte for byte (latin-1)
    version: str
    header_lines: list[tuple[str, str]]  # (name, value) in arrival order, duplicates kept
    body: bytes
    framing: str                     # "content-length", "chunked" or "none"
    peer: str
    at: float = field(default_factory=time.time)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def raw_query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def query(self) -> list[tuple[str, str]]:
        """The query decoded the way Werkzeug (MLflow's server) decodes it: `+` is a space."""
        return urllib.parse.parse_qsl(self.raw_query, keep_blank_values=True)

    def headers(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive), in arrival order."""
        return [v for k, v in self.header_lines if k.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        assert len(values) <= 1, f"header {name} arrived {len(values)} times: {values}"
        return values[0] if values else None

    def names(self) -> set[str]:
        return {k.lower() for k, _ in self.header_lines}

    def everything(self) -> bytes:
        """Request line, headers and body in one blob (for "this secret is nowhere" checks)."""
        head = f"{self.method} {self.target} {self.version}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in self.header_lines)
        return head.encode("latin-1") + b"\r\n" + self.body

    def json(self):
        return json.loads(self.body)

    def describe(self) -> str:
        return (f"{self.method} {self.target} {self.framing} {len(self.body)} bytes; headers: "
                + "; ".join(f"{k}: {v}" for k, v in self.header_lines))


@dataclass
class Rule:
    path: str                # exact path, or a prefix when it ends with "*"
    method: str | None
    status: int
    body: bytes | None
    headers: dict[str, str]
    delay: float
    times: int | None        # how many more requests it answers (None: every one)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


class _BadRequest(Exception):
    pass


def _json(obj) -> bytes:
    return json.dumps(obj).encode()


def _experiment(exp_id: str, name: str | None = None) -> dict:
    return {"experiment_id": exp_id, "name": name or ("Default" if exp_id == "0" else f"exp-{exp_id}"),
            "artifact_location": f"mlflow-artifacts:/{exp_id}", "lifecycle_stage": "active",
            "last_update_time": 1_700_000_000_000, "creation_time": 1_700_000_000_000, "tags": []}


def _run(run_id: str, exp_id: str = "0") -> dict:
    return {"info": {"run_id": run_id, "run_uuid": run_id, "experiment_id": exp_id, "run_name": "canned",
                     "user_id": "", "status": "RUNNING", "start_time": 1_700_000_000_000,
                     "artifact_uri": f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts",
                     "lifecycle_stage": "active"},
            "data": {"metrics": [], "params": [], "tags": []}, "inputs": {}}


class RecordingUpstream:
    def __init__(self, name: str = "upstream", redact: tuple[str, ...] = ()):
        """`redact`: credentials the gateway is configured to send (an `--upstream-token`, ...),
        masked in the log file (a test checks them in `requests`; the log must hold no secret)."""
        self.name = name
        self.redact = tuple(r for r in redact if r)
        self.requests: list[Recorded] = []
        self.rules: list[Rule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self.connections = 0
        log_dir = session_log_dir()
        self.log_path = (Path(log_dir) if log_dir else Path("/tmp")) / f"{name}-recording-upstream.log"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> "RecordingUpstream":
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                owner._serve_connection(self.request, self.client_address)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"recording-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for s in list(self._sockets):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._server = None

    # -- configuration and queries ----------------------------------------------------------------

    def on(self, path: str, status: int = 200, json=None, body: bytes | None = None,
           headers: dict[str, str] | None = None, delay: float = 0.0, method: str | None = None,
           times: int | None = None) -> Rule:
        """Answers requests to `path` (exact, or a prefix ending in "*") with this instead of the
        canned answer; the newest matching rule wins."""
        if json is not None:
            body = _json(json)
            headers = {"Content-Type": "application/json", **(headers or {})}
        rule = Rule(path, method, status, body, dict(headers or {}), delay, times)
        with self._lock:
            self.rules.insert(0, rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.rules.clear()

    def snapshot(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)

    def matching(self, path_part: str, method: str | None = None) -> list[Recorded]:
        return [r for r in self.snapshot() if path_part in r.path and (method is None or r.method == method)]

    def wait_for(self, predicate, timeout: float = 10.0) -> list[Recorded]:
        """Waits until predicate(requests) is true; returns the requests either way."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.snapshot()
            if predicate(got):
                return got
            time.sleep(0.02)
        return self.snapshot()

    # -- the server -------------------------------------------------------------------------------

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)
        body = rec.body if len(rec.body) <= 2048 else rec.body[:2048] + b"...(%d bytes)" % len(rec.body)
        line = rec.describe() + "\n  body: " + repr(body) + "\n"
        for secret in self.redact:
            line = line.replace(secret, "<configured upstream credential>")
        try:
            with open(self.log_path, "ab") as f:
                f.write(line.encode("latin-1", "replace"))
        except OSError:
            pass

    def _serve_connection(self, sock: socket.socket, peer) -> None:
        with self._lock:
            self._sockets.add(sock)
            self.connections += 1
        buf = bytearray()
        try:
            sock.settimeout(60)
            while True:
                head = self._read_head(sock, buf)
                if head is None:
                    return
                try:
                    rec = self._parse(sock, buf, head, f"{peer[0]}:{peer[1]}")
                except _BadRequest as exc:
                    msg = str(exc).encode()
                    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                                 % (len(msg), msg))
                    return
                self._record(rec)
                keep = self._answer(sock, rec)
                if not keep:
                    return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._sockets.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _fill(sock: socket.socket, buf: bytearray) -> bool:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buf.extend(chunk)
        return True

    def _read_head(self, sock, buf: bytearray) -> bytes | None:
        while b"\r\n\r\n" not in buf:
            if len(buf) > MAX_HEAD:
                return None
            if not self._fill(sock, buf):
                return None
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        buf[:] = rest
        return head

    def _read_exact(self, sock, buf: bytearray, n: int) -> bytes:
        while len(buf) < n:
            if not self._fill(sock, buf):
                raise _BadRequest("connection closed inside a body")
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _read_line(self, sock, buf: bytearray) -> bytes:
        while b"\r\n" not in buf:
            if len(buf) > MAX_HEAD or not self._fill(sock, buf):
                raise _BadRequest("bad chunk framing")
        line, _, rest = bytes(buf).partition(b"\r\n")
        buf[:] = rest
        return line

    def _parse(self, sock, buf: bytearray, head: bytes, peer: str) -> Recorded:
        lines = head.split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ")
        if len(parts) != 3:
            raise _BadRequest(f"bad request line {lines[0]!r}")
        method, target, version = parts
        header_lines = []
        for raw in lines[1:]:
            name, sep, value = raw.partition(b":")
            if not sep:
                raise _BadRequest(f"bad header line {raw!r}")
            # Keep the value's bytes exactly (only the optional whitespace around it goes): a CR, LF
            # or NUL that got through is visible to the test.
            header_lines.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
        lower = [(k.lower(), v) for k, v in header_lines]
        te = [v for k, v in lower if k == "transfer-encoding"]
        cl = [v for k, v in lower if k == "content-length"]
        if te:
            if te[-1].lower() != "chunked":
                raise _BadRequest("unsupported transfer-encoding")
            body = bytearray()
            while True:
                size = int(self._read_line(sock, buf).split(b";")[0], 16)
                if size == 0:
                    while self._read_line(sock, buf):  # trailers
                        pass
                    break
                body += self._read_exact(sock, buf, size)
                if self._read_exact(sock, buf, 2) != b"\r\n":
                    raise _BadRequest("bad chunk terminator")
                if len(body) > MAX_BODY:
                    raise _BadRequest("body too large for the double")
            framing, data = "chunked", bytes(body)
        elif cl:
            n = int(cl[0])
            if n > MAX_BODY:
                raise _BadRequest("body too large for the double")
            framing, data = "content-length", self._read_exact(sock, buf, n)
        else:
            framing, data = "none", b""
        return Recorded(method, target, version, header_lines, data, framing, peer)

    def _answer(self, sock, rec: Recorded) -> bool:
        rule = None
        with self._lock:
            for r in self.rules:
                if r.matches(rec.method, rec.path) and (r.times is None or r.times > 0):
                    rule = r
                    if r.times is not None:
                        r.times -= 1
                    break
        if rule is not None:
            if rule.delay:
                time.sleep(rule.delay)
            status, headers = rule.status, dict(rule.headers)
            body = rule.body if rule.body is not None else b""
        else:
            status, headers, body = self._canned(rec)
        reason = {200: "OK", 302: "Found", 301: "Moved Permanently", 404: "Not Found",
                  500: "Internal Server Error"}.get(status, "Status")
        headers.setdefault("Content-Length", str(len(body)))
        client_close = any(v.lower() == "close" for v in rec.headers("connection"))
        if client_close:
            headers["Connection"] = "close"
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            sock.sendall(head.encode("latin-1") + (b"" if rec.method == "HEAD" else body))
        except OSError:
            return False
        return not client_close

    def _canned(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        js = {"Content-Type": "application/json"}
        path = rec.path
        q = dict(rec.query())
        try:
            body = json.loads(rec.body) if rec.body and rec.method in ("POST", "PATCH") else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if path == "/health":
            return 200, {"Content-Type": "text/plain"}, b"OK"
        if "/mlflow-artifacts/artifacts" in path:
            if rec.method == "GET" and path.rstrip("/").endswith("/mlflow-artifacts/artifacts"):
                return 200, js, _json({"files": []})
            if rec.method == "GET":
                return 200, {"Content-Type": "application/octet-stream"}, b"canned artifact bytes"
            return 200, js, b"{}"
        tail = path.split("/mlflow/", 1)[-1] if "/mlflow/" in path else path
        if tail == "experiments/create":
            return 200, js, _json({"experiment_id": str(next(self._ids))})
        if tail == "experiments/get":
            return 200, js, _json({"experiment": _experiment(q.get("experiment_id", body.get("experiment_id", "0")))})
        if tail == "experiments/get-by-name":
            return 200, js, _json({"experiment": _experiment("0", q.get("experiment_name"))})
        if tail == "experiments/search":
            return 200, js, _json({"experiments": [_experiment("0")]})
        if tail == "runs/create":
            return 200, js, _json({"run": _run(f"{next(self._ids):032x}", str(body.get("experiment_id", "0")))})
        if tail == "runs/get":
            return 200, js, _json({"run": _run(q.get("run_id", "0" * 32))})
        if tail == "runs/search":
            return 200, js, _json({"runs": []})
        if tail in ("registered-models/create", "registered-models/get"):
            name = body.get("name") or q.get("name", "canned")
            return 200, js, _json({"registered_model": {"name": name, "creation_timestamp": 1_700_000_000_000,
                                                        "last_updated_timestamp": 1_700_000_000_000}})
        if tail == "registered-models/search":
            return 200, js, _json({"registered_models": []})
        if tail in ("model-versions/create", "model-versions/get"):
            name = body.get("name") or q.get("name", "canned")
            return 200, js, _json({"model_version": {"name": name, "version": "1", "current_stage": "None",
                                                     "status": "READY"}})
        if tail == "model-versions/search":
            return 200, js, _json({"model_versions": []})
        return 200, js, b"{}"
