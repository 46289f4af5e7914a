"""A test double of the platform's external auth service (`POST /api/v1/keys/validate`, spec §1).

Runs in a thread of the pytest process on 127.0.0.1 and a free port:

    double = AuthServiceDouble(generation="header").start()
    key = double.add_key(user_id="ada", scopes=["experiment:write", "model:write"])
    ... start the server with --auth-service-url double.url ...
    double.fault = "429"     # or "500", "hang", None
    double.stop()            # the service is down: connections are refused

Two generations of the service are in the field, and the server must work with both:

* ``"header"`` (old): reads the key only from ``Authorization: Bearer``; the body is ignored.
* ``"body"`` (new): reads the key only from the JSON body's ``api_key``; a request without it is
  refused with 400 (a Bearer header alone does not help).

Every request is recorded in ``double.requests`` (method, path, headers, raw body) for assertions.
A GET (the server's readiness probe) is answered 405, like the real FastAPI service.
"""

from __future__ import annotations

import json
import secrets
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VALIDATE_PATH = "/api/v1/keys/validate"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _checksum(body: str) -> str:
    """The 6-character base62 CRC-32 checksum of a Hokusai key (src/auth/api_key.cpp)."""
    crc = zlib.crc32(body.encode()) & 0xFFFFFFFF
    out = []
    for _ in range(6):
        out.append(_BASE62[crc % 62])
        crc //= 62
    return "".join(reversed(out))


def make_key(environment: str = "live") -> str:
    """A well-formed key (`hk_<env>_<40 base62><6 checksum>`), so the server's local format check
    passes and the question reaches the auth service."""
    body = f"hk_{environment}_" + "".join(secrets.choice(_BASE62) for _ in range(40))
    return body + _checksum(body)


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class AuthServiceDouble:
    generation: str = "body"  # "header" | "body"
    service_id: str = "hokusai-registry"
    # None: answer normally; "429" (with Retry-After: retry_after), "500", or "hang" (never answer).
    fault: str | None = None
    retry_after: str = "7"
    known: dict[str, dict] = field(default_factory=dict)  # key -> 200 response fields
    requests: list[ReceivedRequest] = field(default_factory=list)

    def __post_init__(self):
        assert self.generation in ("header", "body"), self.generation
        self._lock = threading.Lock()
        self._release = threading.Event()  # set on stop: hanging handlers return
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> "AuthServiceDouble":
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                double._record(self, b"")
                self._reply(405, {"detail": "Method Not Allowed"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                double._record(self, body)
                if self.path.split("?")[0] != VALIDATE_PATH:
                    self._reply(404, {"detail": "Not Found"})
                    return
                status, payload, headers = double._answer(self.headers, body)
                if status is None:  # hang
                    double._release.wait(timeout=120)
                    return
                self._reply(status, payload, headers)

            def _reply(self, status: int, payload: dict, headers: dict | None = None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="auth-double",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops answering and closes the port (connections are refused afterwards)."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> "AuthServiceDouble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{VALIDATE_PATH}"

    # -- keys -------------------------------------------------------------------------------------

    def add_key(self, key: str | None = None, *, user_id: str = "ada", email: str | None = None,
                scopes: list[str] | None = None, roles: list[str] | None = None,
                is_admin: bool = False, rate_limit_per_hour: int = 1000,
                has_sufficient_balance: bool = True, balance: float = 100.0,
                expires_at: str | None = None, key_id: str | None = None) -> str:
        """Registers a key (a new one unless given) with the full field set of spec §1."""
        key = key or make_key()
        email = email or f"{user_id}@example.com"
        roles = roles if roles is not None else ["data_scientist"]
        scopes = scopes if scopes is not None else ["experiment:write", "model:write"]
        with self._lock:
            self.known[key] = {
                "user_id": user_id,
                "email": email,
                "key_id": key_id or secrets.token_hex(16),
                "service_id": self.service_id,
                "scopes": scopes,
                "roles": roles,
                "is_admin": is_admin,
                "rate_limit_per_hour": rate_limit_per_hour,
                "has_sufficient_balance": has_sufficient_balance,
                "balance": balance,
                "expires_at": expires_at,
                "user": {"id": user_id, "email": email, "roles": roles, "is_admin": is_admin},
            }
        return key

    # -- observation ------------------------------------------------------------------------------

    def posts(self) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- internals --------------------------------------------------------------------------------

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._lock:
            self.requests.append(ReceivedRequest(handler.command, handler.path,
                                                 list(handler.headers.items()), body))

    def _answer(self, headers, body: bytes):
        """(status, payload, extra headers); status None means: never answer."""
        with self._lock:
            fault, generation, retry_after = self.fault, self.generation, self.retry_after
            known = dict(self.known)
        if fault == "hang":
            return None, None, None
        if fault == "500":
            return 500, {"detail": "Internal Server Error"}, None
        if generation == "header":
            authorization = headers.get("Authorization") or ""
            if not authorization.startswith("Bearer "):
                return 401, {"detail": "Invalid or missing API key"}, None
            key = authorization[len("Bearer "):].strip()
        else:
            try:
                parsed = json.loads(body or b"null")
            except ValueError:
                return 400, {"detail": "Invalid JSON"}, None
            if not isinstance(parsed, dict) or not isinstance(parsed.get("api_key"), str):
                return 400, {"detail": "api_key is required"}, None
            key = parsed["api_key"]
        if fault == "429":
            return 429, {"detail": "Rate limit exceeded"}, {"Retry-After": retry_after}
        fields = known.get(key)
        if fields is None:
            return 401, {"detail": "Invalid or missing API key"}, None
        return 200, fields, None
