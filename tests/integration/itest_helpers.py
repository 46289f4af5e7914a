"""Shared helpers for the integration suite: server processes, API keys, a small REST wrapper, raw HTTP.

Nothing here talks to anything but 127.0.0.1, and every server lives in its own temporary directory.

API keys (docs/testing.md "Keys in the suite"): every Hokusai server gets an admin key minted with the
offline CLI before it starts (`server.admin_key`), and every way this module offers to talk to a server
(`server.api()`, `server.http`, `server.session()`, `raw_get`/`raw_request`, `auth_line`) carries that
key unless told otherwise. Every key secret the suite sees is recorded (`register_secret`) so that
test_zz_no_secrets_in_logs.py can check that none of them reached a server log.

Gateway mode (`--target=gateway`, docs/testing.md "Gateway mode"): `set_gateway_mode(True)` makes
every Hokusai `ServerProcess` a gateway (`serve --upstream <url>`) in front of a real `mlflow server`
of its own (`server.upstream`, started from the running venv in `<workdir>/upstream` and reused when
the same directory is started again). Everything else (keys, the local store, the helpers) is what
it is for a native server; `server.artifacts_dir` is then the upstream's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

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


# The store every Hokusai server of the session uses (scripts/test.sh runs the suite once per
# backend): "sqlite" (default: a file in the server's workdir, artifacts in a local directory) or
# "postgres" (a database of its own on $HOKUSAI_TEST_PG_URL's server, made on first use, and the
# shared key-hashing secret below, which a PostgreSQL store requires).
STORE_BACKEND = os.environ.get("HOKUSAI_TEST_BACKEND", "sqlite")
assert STORE_BACKEND in ("sqlite", "postgres"), f"HOKUSAI_TEST_BACKEND={STORE_BACKEND!r}"
PG_AUTH_SECRET = "itest-only-key-hashing-secret-" + "0" * 16
if STORE_BACKEND == "postgres":
    QUIET_ENV["HOKUSAI_AUTH_SECRET"] = PG_AUTH_SECRET
_PG_DATABASES: dict[str, str] = {}        # workdir -> its PostgreSQL database URL
# Where every native Hokusai server of the session keeps artifacts: "local" (default: a directory
# in its workdir) or "s3" (a prefix of its own in $HOKUSAI_TEST_S3_BUCKET on the S3-compatible
# server scripts/s3.sh started; the server reads the AWS_* variables and MLFLOW_S3_ENDPOINT_URL).
ARTIFACT_BACKEND = os.environ.get("HOKUSAI_TEST_ARTIFACTS", "local")
assert ARTIFACT_BACKEND in ("local", "s3"), f"HOKUSAI_TEST_ARTIFACTS={ARTIFACT_BACKEND!r}"
if ARTIFACT_BACKEND == "s3":
    QUIET_ENV["MLFLOW_S3_ENDPOINT_URL"] = os.environ["HOKUSAI_TEST_S3_ENDPOINT"]


class S3Tree:
    """A key prefix in the test bucket, shaped like the pathlib.Path the tests use for a local
    artifact directory: `/`, read_bytes/read_text, open("rb"), stat().st_size, exists, is_file,
    unlink, rglob and relative_to. Directories are the prefixes of stored keys, as S3 has them."""

    def __init__(self, bucket: str, key: str):
        self.bucket, self.key = bucket, key.strip("/")

    @staticmethod
    def _client():
        import boto3

        return boto3.client("s3", endpoint_url=os.environ["HOKUSAI_TEST_S3_ENDPOINT"])

    def __truediv__(self, part) -> "S3Tree":
        return S3Tree(self.bucket, f"{self.key}/{str(part).strip('/')}")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _keys(self) -> list[tuple[str, int, str]]:
        """(key, size, etag) of every object under this prefix (as a directory)."""
        out = []
        pages = self._client().get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.key + "/"):
            out += [(o["Key"], o["Size"], o["ETag"]) for o in page.get("Contents", [])]
        return out

    def _head(self):
        from botocore.exceptions import ClientError

        try:
            return self._client().head_object(Bucket=self.bucket, Key=self.key)
        except ClientError:
            return None

    def read_bytes(self) -> bytes:
        return self._client().get_object(Bucket=self.bucket, Key=self.key)["Body"].read()

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)

    def open(self, mode: str = "rb"):
        assert mode == "rb", mode
        return contextlib.closing(self._client().get_object(Bucket=self.bucket, Key=self.key)["Body"])

    def stat(self):
        head = self._head()
        if head is None:
            raise FileNotFoundError(str(self))
        return SimpleNamespace(st_size=head["ContentLength"])

    def is_file(self) -> bool:
        return self._head() is not None

    def exists(self) -> bool:
        return self.is_file() or bool(self._keys())

    def unlink(self) -> None:
        self._client().delete_object(Bucket=self.bucket, Key=self.key)

    def relative_to(self, other: "S3Tree") -> PurePosixPath:
        return PurePosixPath(self.key).relative_to(other.key)

    def rglob(self, pattern: str = "*"):
        assert pattern == "*", pattern
        seen = set()
        for key, _, _ in self._keys():
            rel = PurePosixPath(key).relative_to(self.key)
            for depth in range(1, len(rel.parts) + 1):
                sub = "/".join(rel.parts[:depth])
                if sub not in seen:
                    seen.add(sub)
                    yield self / sub

    def snapshot(self) -> dict[str, tuple]:
        """tree_snapshot's shape: {relative key: ("file", size, etag, None)}."""
        return {str(PurePosixPath(k).relative_to(self.key)): ("file", size, etag, None)
                for k, size, etag in self._keys()}


def artifact_root(workdir: Path) -> "Path | S3Tree":
    """The artifact destination of the native Hokusai server in `workdir`."""
    if ARTIFACT_BACKEND == "s3":
        prefix = "itest-" + uuid.uuid5(uuid.NAMESPACE_URL, str(Path(workdir).resolve())).hex[:16]
        return S3Tree(os.environ["HOKUSAI_TEST_S3_BUCKET"], prefix)
    return Path(workdir) / "artifacts"


def postgres_database(workdir: Path) -> str:
    """The PostgreSQL database of the server in `workdir` (created on first use, empty): the
    test server's URL with the database name replaced."""
    key = str(Path(workdir).resolve())
    if key not in _PG_DATABASES:
        base = os.environ["HOKUSAI_TEST_PG_URL"]
        name = "hk_" + uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:20]
        done = subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-q", "-c",
                               f'DROP DATABASE IF EXISTS "{name}"', "-c", f'CREATE DATABASE "{name}"'],
                              capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        _PG_DATABASES[key] = base.rsplit("/", 1)[0] + "/" + name
    return _PG_DATABASES[key]


def _pg_dump(url: str) -> bytes:
    done = subprocess.run(["pg_dump", "--no-owner", url], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def store_dumps() -> list[tuple[str, bytes]]:
    """The stored bytes of every PostgreSQL database the session made (pg_dump, data and schema),
    by name: what test_zz_no_secrets_in_logs.py searches for keys under the postgres backend."""
    return [(url.rsplit("/", 1)[1], _pg_dump(url)) for url in _PG_DATABASES.values()]


def store_bytes(srv: "ServerProcess") -> list[tuple[str, bytes]]:
    """What the Hokusai server `srv` has stored, by name: its SQLite files (database, WAL), or a
    dump of its PostgreSQL database."""
    if STORE_BACKEND == "postgres":
        return [(srv.backend_store_uri.rsplit("/", 1)[1], _pg_dump(srv.backend_store_uri))]
    return [(p.name, p.read_bytes()) for p in srv.workdir.glob("registry.db*") if p.is_file()]


def drop_postgres_databases() -> None:
    """Session end: the databases postgres_database() made are dropped (servers stopped first)."""
    for url in list(_PG_DATABASES.values()):
        base = os.environ["HOKUSAI_TEST_PG_URL"]
        name = url.rsplit("/", 1)[1]
        subprocess.run(["psql", base, "-q", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                       capture_output=True, timeout=60)
    _PG_DATABASES.clear()


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


def _require_binary() -> Path:
    binary = hokusai_binary()
    if not binary.exists():
        pytest.fail(
            f"Hokusai binary not found at {binary} (set HOKUSAI_BIN, or build build/asan or "
            f"build/release). Use --target=mlflow to run the shared tests against the real "
            f"MLflow server."
        )
    return binary


def mlflow_executable() -> Path:
    """The `mlflow` console script of the venv running pytest."""
    candidate = Path(sys.executable).parent / "mlflow"
    if candidate.exists():
        return candidate
    pytest.fail(f"no `mlflow` executable next to {sys.executable}; run the suite with a venv's python")


# --------------------------------------------------------------------------------------------------
# API keys: headers, the session-wide record of every secret, server logs
# --------------------------------------------------------------------------------------------------

# The shape of a Hokusai key (hk_<env>_ + 40 random + 6 checksum characters, base62): anything that
# looks like this in a log is a leak, whether or not the suite registered it.
KEY_SHAPE = re.compile(r"hk_(?:live|test|dev)_[0-9A-Za-z]{46}")
KEY_TEMPLATES = {
    "reader": {"experiment:read", "model:read"},
    "developer": {"experiment:read", "model:read", "experiment:write", "model:write"},
}
ADMIN_USER = "itest-admin"
SECRET_FLAGS = ("--upstream-token", "--upstream-password")  # masked in the logged command line
ADMIN_RATE_LIMIT_PER_HOUR = 1_000_000_000  # the suite's own traffic must never meet the key limit

_SECRETS: dict[str, str] = {}             # every key secret the suite saw -> where it came from
_LOG_EXEMPTIONS: list["LogExemption"] = []
_STARTED: list["ServerProcess"] = []      # every ServerProcess started in this session
_KEY_BY_PORT: dict[int, str] = {}         # port -> admin key of the Hokusai server listening there
_ADMIN_KEYS: dict[str, tuple[str, str]] = {}  # workdir -> (admin key, key id), minted once per store
_LOG_DIR: Path | None = None
_GATEWAY_MODE = False                     # --target=gateway: every Hokusai server is a gateway
_UPSTREAMS: dict[str, "ServerProcess"] = {}  # gateway workdir -> its real mlflow upstream


def set_gateway_mode(on: bool) -> None:
    """--target=gateway (conftest): from now on every Hokusai ServerProcess that is not given an
    upstream explicitly starts in gateway mode in front of a real `mlflow server` of its own."""
    global _GATEWAY_MODE
    _GATEWAY_MODE = bool(on)


def gateway_mode() -> bool:
    return _GATEWAY_MODE


def stop_all_upstreams() -> None:
    """Session end: stops every real upstream the harness started for a gateway."""
    for up in list(_UPSTREAMS.values()):
        up.stop()


def auth_headers(key: str | None) -> dict[str, str]:
    """`Authorization: Bearer <key>`; {} for None (the real MLflow server has no keys)."""
    return {"Authorization": f"Bearer {key}"} if key else {}


def has_credential(headers) -> bool:
    """Whether a header dict already carries a credential (then nothing is added to it)."""
    return any(k.lower() in ("authorization", "x-api-key") for k in (headers or {}))


def register_secret(secret: str, origin: str) -> str:
    """Records a key secret for test_zz_no_secrets_in_logs.py; returns it."""
    if isinstance(secret, str) and secret:
        _SECRETS.setdefault(secret, origin)
    return secret


def registered_secrets() -> dict[str, str]:
    return dict(_SECRETS)


def _record_minted(resp: requests.Response, *_args, **_kwargs) -> requests.Response:
    """Response hook: remembers every `api_key` a key endpoint hands out through the harness."""
    if "/api/v1/keys" in resp.url and resp.headers.get("Content-Type", "").startswith("application/json"):
        try:
            body = resp.json()
        except ValueError:
            return resp
        if isinstance(body, dict) and isinstance(body.get("api_key"), str):
            register_secret(body["api_key"], f"{resp.request.method} {resp.url}")
    return resp


@dataclass(frozen=True)
class LogExemption:
    """One secret that may appear in one log file, only as the exact line `line`, exactly `count`
    times (the first-start banner is the only legitimate case)."""
    log_path: Path
    secret: str
    line: str
    count: int
    reason: str


def allow_in_log(log_path: Path, secret: str, line: str, count: int, reason: str) -> None:
    assert secret in line, "an exemption names the exact line the secret may appear on"
    _LOG_EXEMPTIONS.append(LogExemption(Path(log_path), secret, line, count, reason))


def log_exemptions() -> list[LogExemption]:
    return list(_LOG_EXEMPTIONS)


def set_session_log_dir(path: Path) -> None:
    """Where every server and key-CLI log of the session goes (conftest sets it once)."""
    global _LOG_DIR
    _LOG_DIR = Path(path)
    _LOG_DIR.mkdir(parents=True, exist_ok=True)


def session_log_dir() -> Path | None:
    return _LOG_DIR


def started_servers() -> list["ServerProcess"]:
    return list(_STARTED)


def rfc3339(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def keys_of(body) -> list[dict]:
    """The key list of `GET /api/v1/keys` (a JSON list, or {"keys": [...]})."""
    return body if isinstance(body, list) else body["keys"]


class Http:
    """`requests`-shaped (get/post/put/delete/head/request with full URLs) that adds
    `Authorization: Bearer <key>` unless the call brings its own credential header. Key None: adds
    nothing (the real MLflow server, or a deliberately anonymous call)."""

    def __init__(self, key: str | None):
        self.key = key

    def request(self, method: str, url: str, headers=None, **kw) -> requests.Response:
        merged = dict(headers or {})
        if not has_credential(merged):
            merged.update(auth_headers(self.key))
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        return _record_minted(requests.request(method, url, headers=merged, **kw))

    def get(self, url: str, **kw) -> requests.Response:
        return self.request("GET", url, **kw)

    def head(self, url: str, **kw) -> requests.Response:
        kw.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kw)

    def post(self, url: str, data=None, json=None, **kw) -> requests.Response:
        return self.request("POST", url, data=data, json=json, **kw)

    def put(self, url: str, data=None, **kw) -> requests.Response:
        return self.request("PUT", url, data=data, **kw)

    def patch(self, url: str, data=None, **kw) -> requests.Response:
        return self.request("PATCH", url, data=data, **kw)

    def delete(self, url: str, **kw) -> requests.Response:
        return self.request("DELETE", url, **kw)

    def session(self) -> requests.Session:
        """A keep-alive requests.Session with the key's header (for streams of calls)."""
        s = requests.Session()
        s.headers.update(auth_headers(self.key))
        s.hooks["response"].append(_record_minted)
        return s


def auth_line(port: int, key: str | None = None) -> str:
    """The header line `Authorization: Bearer <key>` + CRLF, for hand-written raw requests: `key`,
    else the admin key of the Hokusai server on `port`; "" when there is none (the real server)."""
    key = key or _KEY_BY_PORT.get(port)
    return f"Authorization: Bearer {key}\r\n" if key else ""


@contextlib.contextmanager
def tracking_token(key: str | None):
    """MLFLOW_TRACKING_TOKEN=<key> for the stock client (module-scoped fixtures; tests get it from
    conftest). None leaves the environment untouched."""
    with pytest.MonkeyPatch.context() as mp:
        if key:
            mp.setenv("MLFLOW_TRACKING_TOKEN", key)
        yield


# --------------------------------------------------------------------------------------------------
# Server processes
# --------------------------------------------------------------------------------------------------


class ServerProcess:
    """One server (Hokusai or the real MLflow server) in its own working directory.

    start() may be called again after stop()/kill9(): the new process uses the same directory (and
    therefore the same database and keys) on a new free port, and appends to the same log file.

    A Hokusai server gets an admin key minted offline (`hokusai-registry keys create ... --json`)
    before its first start (`admin_key`, `admin_key_id`); `admin_key=False` starts it on an empty
    key store instead (the first-start banner test). The real MLflow server has no keys:
    `admin_key` is None and every helper then sends no credential.

    Gateway mode: `kind="gateway"`, or `kind="hokusai"` while `set_gateway_mode(True)` is on, or an
    explicit `upstream=` (a URL string, or a ServerProcess of kind "mlflow" that this one does not
    own), starts the binary with `--upstream <url>` (plus `upstream_args`, e.g. `--upstream-token`).
    Without an explicit upstream the harness starts a real `mlflow server` of its own in
    `<workdir>/upstream` before the gateway (`self.upstream`); it is stopped with the gateway's
    final graceful stop, or at session end. `kind` is then "hokusai" (it is the Hokusai binary, with
    its keys and local store) and `self.gateway` is True. `upstream=False` forces native mode.
    """

    def __init__(self, kind: str, workdir: Path, extra_args: list[str] | None = None,
                 admin_key: bool = True, upstream=None, upstream_args: list[str] | None = None,
                 store_uri: str | None = None, artifacts_destination=None):
        assert kind in ("hokusai", "mlflow", "gateway"), kind
        assert not (kind == "gateway" and upstream is False), "kind='gateway' with upstream=False"
        self.gateway = kind == "gateway" or (kind == "hokusai" and (
            (upstream is not None and upstream is not False) or (_GATEWAY_MODE and upstream is None)))
        kind = "hokusai" if kind == "gateway" else kind
        self.kind = kind
        self._upstream_spec = upstream if (self.gateway and upstream is not None) else None
        self.upstream_args = list(upstream_args or [])
        self.upstream: "ServerProcess | None" = upstream if isinstance(upstream, ServerProcess) else None
        self.owns_upstream = False
        self.extra_args = list(extra_args or [])  # appended to the standard command line
        # Replicas share one store and one artifact root (test_replicas.py): given explicitly.
        self._store_uri = store_uri
        self._artifacts_destination = artifacts_destination
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_name = ("hokusai-gateway.log" if self.gateway else "hokusai.log") if kind == "hokusai" \
            else "mlflow-server.log"
        # Logs go to the session's log directory (test_zz_no_secrets_in_logs.py reads them all).
        self.log_path = (_LOG_DIR / f"{self.workdir.name}-{log_name}") if _LOG_DIR else self.workdir / log_name
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.generation = 0
        self.wants_admin_key = admin_key and kind == "hokusai"
        known = _ADMIN_KEYS.get(str(self.workdir.resolve()))
        self.admin_key: str | None = known[0] if known else None
        self.admin_key_id: str | None = known[1] if known else None

    # -- properties -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.workdir / ("registry.db" if self.kind == "hokusai" else "mlflow.db")

    @property
    def backend_store_uri(self) -> str:
        if self._store_uri is not None:
            return self._store_uri
        if self.kind == "hokusai" and STORE_BACKEND == "postgres":
            return postgres_database(self.workdir)
        return f"sqlite:///{self.db_path}"

    @property
    def secret_file(self) -> Path:
        """The server secret (`auth-secret` beside the SQLite database, the default of both the
        server and the key CLI)."""
        return self.db_path.parent / "auth-secret"

    @property
    def artifacts_dir(self) -> Path:
        """Where this server stores proxied artifacts (`--artifacts-destination`), inside workdir.
        A gateway stores none: then its upstream's directory (when the upstream is a real mlflow
        server the harness knows)."""
        if self._artifacts_destination is not None:
            return self._artifacts_destination
        if self.gateway:
            if self.upstream is not None:
                return self.upstream.artifacts_dir
            return self.workdir / "no-artifacts-in-gateway-mode"
        return artifact_root(self.workdir) if self.kind == "hokusai" else self.workdir / "art"

    @property
    def upstream_url(self) -> str | None:
        """The URL a gateway forwards to (None for a native server or before its first start)."""
        if not self.gateway:
            return None
        if isinstance(self._upstream_spec, str):
            return self._upstream_spec.rstrip("/")
        return self.upstream.url if self.upstream is not None and self.upstream.port else None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def http(self) -> Http:
        """`requests`-shaped calls carrying the admin key: server.http.get(server.url + "/...")."""
        return Http(self.admin_key)

    def session(self) -> requests.Session:
        return self.http.session()

    def auth_headers(self) -> dict[str, str]:
        return auth_headers(self.admin_key)

    def api(self, key: str | None = None, anonymous: bool = False) -> "Api":
        """The MLflow REST wrapper with the admin key (or `key`; `anonymous=True`: no key)."""
        return Api(self.url, key=None if anonymous else (key or self.admin_key))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, limit: int = 20000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "<no log file>"
        return text if len(text) <= limit else "...\n" + text[-limit:]

    # -- keys -------------------------------------------------------------------------------------

    def keys_cli(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        """`hokusai-registry keys <args> --backend-store-uri <this store>`, offline (the server may
        or may not be running). stdout (which may hold a secret) is returned, never logged; stderr
        is appended to the session's key-CLI log, which the no-secrets check reads too."""
        assert self.kind == "hokusai"
        cmd = [str(_require_binary()), "keys", *args, "--backend-store-uri", self.backend_store_uri]
        env = dict(os.environ)
        env.update(QUIET_ENV)
        done = subprocess.run(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, capture_output=True,
                              env=env, timeout=60)
        log = (_LOG_DIR or self.workdir) / f"{self.workdir.name}-keys-cli.log"
        printable = [a if not KEY_SHAPE.fullmatch(a) else "<key>" for a in args]
        with open(log, "ab") as f:
            f.write(f"\n===== keys {' '.join(printable)} -> {done.returncode}\n".encode())
            f.write(done.stderr)
        if expect_ok:
            assert done.returncode == 0, (
                f"`keys {' '.join(printable)}` exited {done.returncode}\n--- stderr ---\n"
                f"{done.stderr.decode(errors='replace')}\n--- stdout ---\n{done.stdout.decode(errors='replace')}")
        return done

    def keys_cli_json(self, *args: str):
        out = self.keys_cli(*args, "--json").stdout.decode()
        try:
            body = json.loads(out)
        except ValueError:
            raise AssertionError(f"`keys {args[0]} --json` did not print one JSON document: {out!r}")
        items = body if isinstance(body, list) else [body]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("api_key"), str):
                register_secret(item["api_key"], f"keys {args[0]} (CLI) on {self.workdir.name}")
        return body

    def cli_create_key(self, user_id: str, *, template: str | None = None, scopes=(), name: str | None = None,
                       email: str | None = None, admin_user: bool = False, environment: str | None = None,
                       expires_in_days: int | None = None, allowed_ips=(),
                       rate_limit_per_hour: int | None = None) -> dict:
        """`keys create` offline; returns the printed JSON object (api_key, key_id, ...)."""
        args = ["create", "--user", user_id, "--name", name or unique("cli-key")]
        if email:
            args += ["--email", email]
        if admin_user:
            args.append("--admin-user")
        if template:
            args += ["--template", template]
        for scope in scopes:
            args += ["--scope", scope]
        if environment:
            args += ["--environment", environment]
        if expires_in_days is not None:
            args += ["--expires-in-days", str(expires_in_days)]
        for cidr in allowed_ips:
            args += ["--allowed-ip", cidr]
        if rate_limit_per_hour is not None:
            args += ["--rate-limit-per-hour", str(rate_limit_per_hour)]
        body = self.keys_cli_json(*args)
        assert isinstance(body, dict) and KEY_SHAPE.fullmatch(body.get("api_key", "")), body
        return body

    def _mint_admin_key(self) -> None:
        body = self.cli_create_key(ADMIN_USER, admin_user=True, template="admin", name="itest-admin",
                                   email="itest-admin@example.invalid",
                                   rate_limit_per_hour=ADMIN_RATE_LIMIT_PER_HOUR)
        self.admin_key, self.admin_key_id = body["api_key"], body["key_id"]
        _ADMIN_KEYS[str(self.workdir.resolve())] = (self.admin_key, self.admin_key_id)

    def create_key(self, user_id: str | None, template: str | None = "developer", *,
                   as_key: str | None = None, **fields) -> dict:
        """`POST /api/v1/keys` with the admin key (or `as_key`): a key for `user_id` (None: the
        caller's own user) from `template` (None: give `scopes=`), plus any other create field
        (expires_at, allowed_ips, rate_limit_per_hour, ...). Asserts 201; returns the body."""
        body = {"name": fields.pop("name", unique("key"))}
        if user_id is not None:
            body["user_id"] = user_id
        if template is not None:
            body["template"] = template
        body.update(fields)
        resp = Http(as_key or self.admin_key).post(self.url + "/api/v1/keys", json=body)
        assert resp.status_code == 201, f"POST /api/v1/keys {body} -> {resp.status_code} {resp.text[:500]}"
        created = resp.json()
        assert KEY_SHAPE.fullmatch(created.get("api_key", "")), created
        return created

    # -- lifecycle --------------------------------------------------------------------------------

    def command(self) -> list[str]:
        if self.kind == "hokusai" and self.gateway:
            # No --artifacts-destination: a gateway stores no artifacts (the upstream does).
            return [
                str(_require_binary()), "serve",
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--backend-store-uri", self.backend_store_uri,
                "--upstream", self.upstream_url,
            ] + self.upstream_args + self.extra_args
        if self.kind == "hokusai":
            return [
                str(_require_binary()), "serve",
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--backend-store-uri", self.backend_store_uri,
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
        if self.wants_admin_key and self.admin_key is None:
            self._mint_admin_key()  # before the first start: the server must print no banner
        if self.gateway:
            self._ensure_upstream()
        self.port = free_port()
        self.generation += 1
        cmd = self.command()
        env = dict(os.environ)
        env.update(QUIET_ENV)
        # The start line names the command, never a credential given on it (--upstream-token, ...).
        shown = [("<secret>" if i and cmd[i - 1] in SECRET_FLAGS else a) for i, a in enumerate(cmd)]
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.generation}: {' '.join(shown)}\n".encode())
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
        if self not in _STARTED:
            _STARTED.append(self)
        if self.admin_key:
            _KEY_BY_PORT[self.port] = self.admin_key
        else:
            _KEY_BY_PORT.pop(self.port, None)
        timeout = HOKUSAI_STARTUP_TIMEOUT_S if self.kind == "hokusai" else MLFLOW_STARTUP_TIMEOUT_S
        self._wait_healthy(timeout)
        return self

    def _ensure_upstream(self) -> None:
        """Gateway mode without an explicit upstream: a real `mlflow server` of this venv in
        <workdir>/upstream, shared by every ServerProcess on the same workdir (a restart keeps the
        upstream's data as it keeps the local store); (re)started when it is not running."""
        if self._upstream_spec is not None:
            if isinstance(self._upstream_spec, ServerProcess):
                assert self._upstream_spec.alive(), "the given upstream is not running"
            return
        key = str(self.workdir.resolve())
        up = _UPSTREAMS.get(key)
        if up is None:
            up = ServerProcess("mlflow", self.workdir / "upstream")
            _UPSTREAMS[key] = up
        self.upstream = up
        self.owns_upstream = True
        if not up.alive():
            up.start()

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
        if self.owns_upstream and self.upstream is not None:
            self.upstream.stop()  # the gateway's final stop; a later start() restarts it
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
    """Tiny requests wrapper for /api/2.0/mlflow/... ; paths are given without that prefix. Every
    call carries `Authorization: Bearer <key>` when a key is given (server.api() gives the admin
    key); a call's own `headers=` credential replaces it."""

    def __init__(self, base_url: str, prefix: str = API_PREFIX, key: str | None = None):
        self.base_url = base_url
        self.prefix = prefix
        self.key = key
        self.session = requests.Session()
        self.session.headers.update(auth_headers(key))
        self.session.hooks["response"].append(_record_minted)

    def url(self, path: str) -> str:
        return self.base_url + self.prefix + path

    def _headers(self, kw: dict) -> None:
        headers = kw.get("headers")
        if self.key and has_credential(headers) and not any(k.lower() == "authorization" for k in headers):
            # requests merges the session's header in: drop it explicitly (None removes a header).
            kw["headers"] = dict(headers, Authorization=None)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        self._headers(kw)
        return self.session.post(self.url(path), json=json, **kw)

    def get(self, path: str, params=None, **kw) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        self._headers(kw)
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


# Bytes read past the end of a response (the start of the next one, when the server answered
# pipelined requests in one segment), per socket, for the next read_response on it.
_UNREAD: "weakref.WeakKeyDictionary[socket.socket, bytearray]" = weakref.WeakKeyDictionary()


def read_response(sock: socket.socket, timeout: float = 15.0, head_only: bool = False) -> RawResponse:
    """Reads one HTTP/1.1 response (Content-Length or chunked or read-to-close) from sock. Bytes
    received after it are kept for the next call on the same socket (pipelined answers)."""
    deadline = time.monotonic() + timeout
    buf = _UNREAD.pop(sock, bytearray())
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
        if len(body) > n:
            _UNREAD[sock] = bytearray(body[n:])
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
                if body:
                    _UNREAD[sock] = bytearray(body)
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


def _with_key(port: int, headers: dict[str, str] | None, auth) -> dict[str, str]:
    """`auth=True`: the admin key of the server on `port` (if any); a string: that key; False/None:
    no credential. A credential already in `headers` is kept as it is."""
    hdrs = dict(headers or {})
    if auth and not has_credential(hdrs):
        hdrs.update(auth_headers(auth if isinstance(auth, str) else _KEY_BY_PORT.get(port)))
    return hdrs


def raw_get(port: int, target: str | bytes, headers: dict[str, str] | None = None,
            timeout: float = 15.0, auth: bool | str | None = True) -> RawResponse:
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port, b"Connection: close"]
    for k, v in _with_key(port, headers, auth).items():
        lines.append(f"{k}: {v}".encode("latin-1"))
    return raw_exchange(port, b"\r\n".join(lines) + b"\r\n\r\n", timeout=timeout)


def raw_request(port: int, method: str, target: str | bytes, body: bytes = b"",
                headers: dict[str, str] | None = None, timeout: float = 15.0,
                auth: bool | str | None = True) -> RawResponse:
    """One request with the request target sent byte for byte (no normalisation of `..`, `%2e`,
    backslashes or NULs, which `requests` and urllib would rewrite or refuse). Carries the admin
    key of the server on `port` unless `auth` says otherwise (see raw_get)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port,
             b"Connection: close"]
    hdrs = _with_key(port, headers, auth)
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


def tree_snapshot(root, exclude: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """{relative path: (type, size, mtime_ns, link target)} for everything under root (lstat: links
    are not followed), skipping the `exclude` subtrees. An S3Tree: its objects (S3Tree.snapshot)."""
    if isinstance(root, S3Tree):
        assert not exclude, "exclude is for local trees"
        return root.snapshot()
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
def fluent_tracking(server: "ServerProcess"):
    """MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_TOKEN = the server's admin key, if it has one) for
    module-scoped fixtures (the function-scoped `tracking_uri` fixture cannot be used there);
    restores the environment and the client's active experiment afterwards."""
    import mlflow
    import mlflow.tracking.fluent as fluent

    with pytest.MonkeyPatch.context() as mp:
        for name in CLIENT_ENV_TO_CLEAR:
            mp.delenv(name, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", server.url)
        if server.admin_key:
            mp.setenv("MLFLOW_TRACKING_TOKEN", server.admin_key)
        try:
            yield
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run()
            fluent._active_experiment_id = None
