"""Helpers for the registration API and registration-event tests (test_registration.py,
test_events.py): calls to /api/v1/models/... and /api/v1/events..., a read-only view of the server's
SQLite store, runs that hold a logged scikit-learn model, and a webhook receiver.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from itest_helpers import (CLIENT_ENV_TO_CLEAR, HTTP_TIMEOUT_S, STORE_BACKEND, ServerProcess,
                           auth_headers, free_port, log_sklearn_model, unique)

# The 201 answer of /register and /baseline: exactly these fields (spec §3).
REGISTRATION_FIELDS = {
    "model_id", "model_name", "version", "version_label", "model_type", "metrics", "status",
    "registration_timestamp", "mlflow_run_id", "source",
}
# GET /api/v1/models, GET /api/v1/models/{name}/{version}, transition: those plus these.
DETAILED_FIELDS = REGISTRATION_FIELDS | {"description", "aliases", "stage", "current_stage", "tags"}

# Every table a registration writes (or must not write) into.
REGISTRATION_TABLES = (
    "registered_models", "registered_model_tags", "model_versions", "model_version_tags",
    "registered_model_aliases", "registered_model_permissions", "registration_events",
    "idempotency_keys",
)


# --------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------


def v1(srv: ServerProcess, method: str, path: str, key: str | None, *, json_body=None,
       data: bytes | str | None = None, headers: dict | None = None, params=None) -> requests.Response:
    """One call to `/api/v1<path>` with `key` (None: no credential). `data` sends raw bytes as
    application/json (member order and whitespace exactly as given)."""
    hdrs = dict(auth_headers(key))
    hdrs.update(headers or {})
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    return requests.request(method, srv.url + "/api/v1" + path, json=json_body, data=data,
                            headers=hdrs, params=params, timeout=HTTP_TIMEOUT_S)


def register(srv: ServerProcess, key: str | None, body=None, *, endpoint: str = "register",
             idempotency_key: str | None = None, data: bytes | str | None = None,
             headers: dict | None = None) -> requests.Response:
    """POST /api/v1/models/register (or /baseline) with `body` (or raw `data`)."""
    hdrs = dict(headers or {})
    if idempotency_key is not None:
        hdrs["Idempotency-Key"] = idempotency_key
    return v1(srv, "POST", f"/models/{endpoint}", key, json_body=None if data is not None else body,
              data=data, headers=hdrs)


def created(resp: requests.Response) -> dict:
    assert resp.status_code == 201, (
        f"{resp.request.method} {resp.url} -> {resp.status_code}: {resp.text[:800]}")
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    return resp.json()


def ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, (
        f"{resp.request.method} {resp.url} -> {resp.status_code}: {resp.text[:800]}")
    return resp.json()


def error_body(resp: requests.Response, status: int, code: str | tuple[str, ...]) -> dict:
    """Asserts an error answer (status, error_code, a non-empty message); returns the body."""
    codes = (code,) if isinstance(code, str) else code
    try:
        body = resp.json()
    except ValueError:
        body = None
    assert resp.status_code == status and isinstance(body, dict) and body.get("error_code") in codes, (
        f"{resp.request.method} {resp.url}: expected {status} {codes}, got {resp.status_code} "
        f"{resp.text[:800]!r}")
    assert isinstance(body.get("message"), str) and body["message"], body
    return body


def parse_rfc3339(text: str) -> datetime:
    assert isinstance(text, str) and "T" in text, text
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"{text!r} has no time zone"
    return parsed


def list_all_models(srv: ServerProcess, key: str | None, page_size: int = 1000, **filters) -> list[dict]:
    """Every entry of GET /api/v1/models (following next_page_token)."""
    out: list[dict] = []
    token = None
    for _ in range(1000):
        params = dict(filters, max_results=page_size)
        if token:
            params["page_token"] = token
        body = ok(v1(srv, "GET", "/models", key, params=params))
        out.extend(body["models"])
        token = body.get("next_page_token")
        if not token:
            return out
    raise AssertionError("GET /api/v1/models paging did not terminate")


def events_of(srv: ServerProcess, model_name: str | None = None, key: str | None = None,
              **params) -> list[dict]:
    """Every event of GET /api/v1/events (admin key by default), following next_page_token."""
    key = key or srv.admin_key
    out: list[dict] = []
    token = None
    for _ in range(1000):
        query = dict(params)
        if model_name is not None:
            query["model_name"] = model_name
        if token:
            query["page_token"] = token
        body = ok(v1(srv, "GET", "/events", key, params=query))
        out.extend(body["events"])
        token = body.get("next_page_token")
        if not token:
            return out
    raise AssertionError("GET /api/v1/events paging did not terminate")


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Polls `predicate()` until it returns something truthy (returned) or `timeout` passes
    (fails naming `what` and the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last value: {last!r}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------
# The server's SQLite store, read-only
# --------------------------------------------------------------------------------------------------


class _PgReadonly:
    """sqlite3's execute() over a read-only psycopg connection: the same `?` statements."""

    def __init__(self, url: str):
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self._conn.execute("SET default_transaction_read_only = on")

    def execute(self, sql: str, params=()):
        return self._conn.execute(sql.replace("?", "%s"), params)

    def close(self) -> None:
        self._conn.close()


@contextlib.contextmanager
def store_readonly(srv: ServerProcess):
    """A read-only connection to the server's database with sqlite3's execute(): SQLite (WAL:
    sees every commit) or, under the postgres backend, the server's PostgreSQL database."""
    if STORE_BACKEND == "postgres":
        conn = _PgReadonly(srv.backend_store_uri)
    else:
        path = Path(srv.db_path)
        assert path.exists(), f"no database at {path}"
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def store_snapshot(srv: ServerProcess, tables=REGISTRATION_TABLES) -> dict[str, list[tuple]]:
    """Every row of each registration table, sorted: equal snapshots mean nothing was written."""
    with store_readonly(srv) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def snapshot_diff(before: dict, after: dict) -> str:
    lines = []
    for table in before:
        b, a = set(before[table]), set(after[table])
        for row in sorted(a - b, key=repr)[:5]:
            lines.append(f"+ {table}: {row!r:.300}")
        for row in sorted(b - a, key=repr)[:5]:
            lines.append(f"- {table}: {row!r:.300}")
    return "\n".join(lines) or "(no difference)"


def store_rows_for_model(srv: ServerProcess, name: str) -> dict[str, list[tuple]]:
    """What the store holds about model `name`: the model, its tags, versions, version tags,
    aliases, permissions, its registration events and idempotency records naming it."""
    with store_readonly(srv) as conn:
        keys = [r[0] for r in conn.execute("SELECT model_key FROM registered_models WHERE name = ?",
                                           (name,))]
        out: dict[str, list[tuple]] = {"registered_models": keys}
        for table in ("registered_model_tags", "model_versions", "model_version_tags",
                      "registered_model_aliases", "registered_model_permissions"):
            rows: list[tuple] = []
            for k in keys:
                rows += conn.execute(f"SELECT * FROM {table} WHERE model_key = ?", (k,)).fetchall()
            out[table] = rows
        out["registration_events"] = conn.execute(
            "SELECT seq, event_id, model_name, version FROM registration_events WHERE model_name = ?",
            (name,)).fetchall()
        like = f'%"model_name":"{name}"%'
        out["idempotency_keys"] = conn.execute(
            "SELECT user_id, key FROM idempotency_keys WHERE response LIKE ?", (like,)).fetchall()
        return out


def assert_nothing_for_model(srv: ServerProcess, name: str) -> None:
    """No trace of model `name` in the store: no model, version, tag, alias, permission, event or
    idempotency record (read from the database file and through the admin API)."""
    rows = store_rows_for_model(srv, name)
    assert all(not v for v in rows.values()), f"the store holds traces of {name!r}: {rows}"
    admin = srv.api()
    resp = admin.get("/registered-models/get", {"name": name})
    assert resp.status_code == 404, f"registered-models/get {name!r} -> {resp.status_code} {resp.text[:300]}"
    found = admin.get("/model-versions/search", {"filter": f"name = '{name}'"})
    assert found.status_code == 200 and not found.json().get("model_versions"), found.text[:300]
    assert events_of(srv, name) == [], f"events were written for {name!r}"


# --------------------------------------------------------------------------------------------------
# Runs with a model, logged with the stock client under a given key
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def tracking_as(srv: ServerProcess, key: str):
    """MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN=<key> for the stock client (fluent API and
    MlflowClient); restores the environment and the active experiment afterwards."""
    import mlflow
    import mlflow.tracking.fluent as fluent

    with pytest.MonkeyPatch.context() as mp:
        for name in CLIENT_ENV_TO_CLEAR:
            mp.delenv(name, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", srv.url)
        mp.setenv("MLFLOW_TRACKING_TOKEN", key)
        try:
            yield
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run()
            fluent._active_experiment_id = None


@dataclass
class LoggedRun:
    run_id: str
    experiment_id: str
    artifact_uri: str
    model_id: str | None          # the logged model "model" (MLflow 3), None with a 2.x client
    legacy_path: str | None = None  # a model directory in the run's own artifacts, if logged
    extra: dict = field(default_factory=dict)


def log_run_with_model(srv: ServerProcess, key: str, sk_model, *, experiment: str | None = None,
                       name: str = "model", legacy_path: str | None = None,
                       with_logged_model: bool = True) -> LoggedRun:
    """As the owner of `key`: a run in `experiment` (created if needed) holding `sk_model` logged
    with mlflow.sklearn.log_model(name=`name`) and, with `legacy_path`, the same model saved
    locally and uploaded into the run's own artifacts at that path (a `runs:/<run>/<path>` model
    without a logged model)."""
    import tempfile

    import mlflow
    import mlflow.sklearn

    from itest_helpers import SKLEARN_PIP_REQUIREMENTS

    with tracking_as(srv, key):
        mlflow.set_experiment(experiment or unique("reg-exp"))
        with mlflow.start_run() as run:
            model_id = None
            if with_logged_model:
                info = log_sklearn_model(sk_model, name=name)
                model_id = getattr(info, "model_id", None)
            if legacy_path:
                with tempfile.TemporaryDirectory() as tmp:
                    local = Path(tmp) / "m"
                    mlflow.sklearn.save_model(sk_model, str(local),
                                              pip_requirements=SKLEARN_PIP_REQUIREMENTS)
                    mlflow.log_artifacts(str(local), artifact_path=legacy_path)
        return LoggedRun(run_id=run.info.run_id, experiment_id=run.info.experiment_id,
                         artifact_uri=run.info.artifact_uri, model_id=model_id,
                         legacy_path=legacy_path)


@dataclass
class World:
    srv: ServerProcess
    dev_key: str
    other_key: str
    reader_key: str
    run: LoggedRun      # model `a` logged as "model" and also saved under "legacy"
    run_b: LoggedRun    # model `b` logged as "model"
    bare_run: str       # a run of the developer's with no model at all


# The version tags a registration with full_body() writes.
FULL_BODY_VERSION_TAGS = {
    "hokusai.model_type": "classifier",
    "hokusai.version_label": "v1.0.0",
    "hokusai.metric.accuracy": "0.97",
    "hokusai.metric.f1": "0.5",
    "dataset": "iris",
    "team": "ml",
}


def build_world(srv: ServerProcess, models, dev_user: str, other_user: str, reader_user: str) -> World:
    """Keys for a developer, a second developer and a reader, and the developer's runs: model `a`
    logged as "model" and also saved under "legacy", model `b` logged as "model", and a bare run."""
    dev_key = srv.create_key(dev_user, "developer")["api_key"]
    other_key = srv.create_key(other_user, "developer")["api_key"]
    reader_key = srv.create_key(reader_user, "reader")["api_key"]
    exp = unique("reg-exp")
    run = log_run_with_model(srv, dev_key, models.a, experiment=exp, legacy_path="legacy")
    run_b = log_run_with_model(srv, dev_key, models.b, experiment=exp)
    bare = srv.api(dev_key).create_run(run.experiment_id)
    return World(srv, dev_key, other_key, reader_key, run, run_b, bare)


# --------------------------------------------------------------------------------------------------
# Registration bodies and answers
# --------------------------------------------------------------------------------------------------


def run_source(run: LoggedRun) -> str:
    """Where a registration from `run` (artifact_path "model") must point: its logged model on an
    MLflow 3 client, its artifact directory on a 2.x client."""
    return f"models:/{run.model_id}" if run.model_id else f"runs:/{run.run_id}/model"


def full_body(w: World, name: str, **over) -> dict:
    body = {
        "model_name": name,
        "model_type": "classifier",
        "mlflow_run_id": w.run.run_id,
        "version": "v1.0.0",
        "metrics": {"accuracy": 0.97, "f1": 0.5},
        "metadata": {"dataset": "iris"},
        "tags": {"team": "ml"},
        "alias": "champion",
        "description": "iris classifier",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def assert_registration(body: dict, *, name: str, version: str, model_type: str, label,
                        metrics: dict, run_id, source: str) -> None:
    assert set(body) == REGISTRATION_FIELDS, f"fields: {sorted(body)}"
    assert body["model_id"] == f"{name}/{version}", body
    assert body["model_name"] == name, body
    assert body["version"] == version, body
    assert body["version_label"] == label, body
    assert body["model_type"] == model_type, body
    assert body["metrics"] == metrics, body
    assert body["status"] == "registered", body
    assert body["mlflow_run_id"] == run_id, body
    assert body["source"] == source, body
    stamp = parse_rfc3339(body["registration_timestamp"])
    assert abs(stamp.timestamp() - time.time()) < 3600, body["registration_timestamp"]


def predictions(srv: ServerProcess, key: str, model_uri: str, X):
    import numpy as np

    import mlflow.pyfunc

    with tracking_as(srv, key):
        return np.asarray(mlflow.pyfunc.load_model(model_uri).predict(X))


def mlflow_client(srv: ServerProcess):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)


# --------------------------------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------------------------------


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass
class Arrival:
    """One request the receiver got, and what it answered."""
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    answered: int
    at: float

    @property
    def event_id(self) -> str | None:
        return self.headers.get("x-hokusai-event-id")

    def json(self):
        return json.loads(self.body)


class WebhookReceiver:
    """A threaded HTTP server on a fixed loopback port that records every request (headers and
    body) and answers `status` (200 by default; set `receiver.status = 500` to fail deliveries).
    `down()` closes the listening socket (connections are then refused); `up()` listens again on
    the same port, so the server's configured URL stays valid."""

    def __init__(self, port: int | None = None, path: str = "/hooks/hokusai"):
        self.port = port or free_port()
        self.path = path
        self.status = 200
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = receiver.status
                with receiver._lock:
                    receiver.arrivals.append(Arrival(
                        path=self.path, headers={k.lower(): v for k, v in self.headers.items()},
                        body=body, answered=status, at=time.time()))
                payload = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)
                self.close_connection = True

            def log_message(self, *args):  # quiet
                pass

        return Handler

    def up(self) -> "WebhookReceiver":
        assert self._httpd is None, "already up"
        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
        self._httpd = None
        self._thread = None

    def snapshot(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)

    def delivered(self) -> list[Arrival]:
        """Arrivals answered with 2xx."""
        return [a for a in self.snapshot() if 200 <= a.answered < 300]

    def arrivals_for(self, event_id: str) -> list[Arrival]:
        return [a for a in self.snapshot() if a.event_id == event_id]

    def delivered_for_model(self, model_name: str) -> list[Arrival]:
        return [a for a in self.delivered() if a.json().get("model_name") == model_name]
