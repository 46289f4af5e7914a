"""Durability and shutdown: every acknowledged write survives kill -9 and SIGTERM; SIGTERM exits 0.

Each test starts its own Hokusai server (fresh_server) and restarts it on the same database.
"""

from __future__ import annotations

import signal
import socket
import threading

import mlflow
import pytest
import requests
from mlflow.entities import Metric, Param

from itest_helpers import API_PREFIX, SHUTDOWN_TIMEOUT_S, unique

pytestmark = pytest.mark.hokusai_only

T0 = 1_700_000_000_000
N_BATCHES = 300
POINTS_PER_BATCH = 5
INTERRUPT_AFTER_ACKS = 60


def batch_body(run_id: str, i: int) -> dict:
    return {
        "run_id": run_id,
        "metrics": [
            {"key": f"k{i}", "value": i * 100.0 + j, "timestamp": T0 + i * 10 + j, "step": j}
            for j in range(POINTS_PER_BATCH)
        ],
        "params": [{"key": f"p{i}", "value": str(i)}],
        "tags": [{"key": f"t{i}", "value": f"batch-{i}"}],
    }


class BatchStreamer(threading.Thread):
    """Posts N distinct log-batch calls in order; records which were acknowledged with 200."""

    def __init__(self, srv, run_id: str, n: int, notify_after: int):
        super().__init__(daemon=True)
        self.srv = srv
        self.url = srv.url + API_PREFIX + "/runs/log-batch"
        self.run_id = run_id
        self.n = n
        self.notify_after = notify_after
        self.acked: list[int] = []
        self.rejected: list[tuple[int, int, str]] = []  # answered, but not with 200
        self.failed: list[tuple[int, str]] = []  # no answer (connection refused/reset)
        self.reached = threading.Event()

    def run(self):
        session = self.srv.session()  # carries the admin key
        try:
            for i in range(self.n):
                try:
                    r = session.post(self.url, json=batch_body(self.run_id, i), timeout=30)
                except requests.RequestException as exc:
                    self.failed.append((i, repr(exc)))
                    break  # the server is going away; later batches are simply never sent
                if r.status_code == 200:
                    self.acked.append(i)
                else:
                    self.rejected.append((i, r.status_code, r.text[:200]))
                if len(self.acked) == self.notify_after:
                    self.reached.set()
        finally:
            self.reached.set()


def expected_points(i: int) -> list[tuple[float, int, int]]:
    return [(i * 100.0 + j, T0 + i * 10 + j, j) for j in range(POINTS_PER_BATCH)]


def verify_after_restart(srv, run_id: str, streamer: BatchStreamer) -> None:
    api = srv.api()
    data = api.run_data(run_id)
    acked = set(streamer.acked)
    lost = []
    for i in sorted(acked):
        history = api.metric_history(run_id, f"k{i}")
        got = sorted((p["value"], p["timestamp"], p.get("step", 0)) for p in history)
        if got != expected_points(i) or data["params"].get(f"p{i}") != str(i) \
                or data["tags"].get(f"t{i}") != f"batch-{i}":
            lost.append((i, got, data["params"].get(f"p{i}"), data["tags"].get(f"t{i}")))
    assert not lost, f"{len(lost)} acknowledged batches are missing or incomplete after restart: {lost[:5]}"
    # Batches that were never acknowledged are all-or-nothing (a batch is one transaction).
    for i in range(N_BATCHES):
        if i in acked:
            continue
        key = f"k{i}"
        has_metric = key in data["metrics"]
        has_param = f"p{i}" in data["params"]
        has_tag = f"t{i}" in data["tags"]
        assert has_metric == has_param == has_tag, f"batch {i} was partially written"
        if has_metric:
            history = api.metric_history(run_id, key)
            assert sorted((p["value"], p["timestamp"], p.get("step", 0)) for p in history) == expected_points(i)
    # Nothing beyond what was streamed appeared.
    assert set(data["params"]) <= {f"p{i}" for i in range(N_BATCHES)}


def start_stream(srv) -> tuple[str, BatchStreamer]:
    api = srv.api()
    run_id = api.create_run(api.create_experiment(unique("durability")), start_time=T0)
    streamer = BatchStreamer(srv, run_id, N_BATCHES, INTERRUPT_AFTER_ACKS)
    streamer.start()
    assert streamer.reached.wait(120), "the stream never reached the interruption point"
    assert len(streamer.acked) >= INTERRUPT_AFTER_ACKS, (
        f"only {len(streamer.acked)} batches acknowledged; rejected={streamer.rejected[:3]} "
        f"failed={streamer.failed[:3]}\n--- log ---\n{srv.log_text()}")
    return run_id, streamer


def test_kill_9_mid_stream_loses_no_acknowledged_write(fresh_server):
    srv = fresh_server("hokusai")
    run_id, streamer = start_stream(srv)
    srv.kill9()
    streamer.join(60)
    assert not streamer.is_alive()
    assert streamer.rejected == [], f"batches answered with an error: {streamer.rejected[:5]}"
    print(f"kill -9 after {len(streamer.acked)} of {N_BATCHES} acknowledged batches; "
          f"first unacknowledged: {streamer.failed[:1]}")

    srv.start()  # same directory, same database
    verify_after_restart(srv, run_id, streamer)


def test_sigterm_mid_stream_exits_0_and_keeps_acknowledged_writes(fresh_server):
    srv = fresh_server("hokusai")
    run_id, streamer = start_stream(srv)
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(SHUTDOWN_TIMEOUT_S)
    assert rc is not None, f"no exit within {SHUTDOWN_TIMEOUT_S:.0f} s of SIGTERM\n{srv.log_text()}"
    assert rc == 0, f"exit code {rc} after SIGTERM\n--- log ---\n{srv.log_text()}"
    streamer.join(60)
    assert not streamer.is_alive()
    print(f"SIGTERM after {len(streamer.acked)} of {N_BATCHES} acknowledged batches; "
          f"rejected: {len(streamer.rejected)}; first failure: {streamer.failed[:1]}")
    # While draining, a server may turn new work away with 503 (the client retries that); nothing else.
    assert all(status == 503 for _, status, _ in streamer.rejected), (
        f"batches answered with an error during shutdown: {streamer.rejected[:5]}")

    srv.start()
    verify_after_restart(srv, run_id, streamer)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown_with_idle_and_half_open_connections(fresh_server, sig):
    srv = fresh_server("hokusai")
    # An idle keep-alive connection that has completed a request...
    idle = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert b"200" in idle.recv(4096).split(b"\r\n", 1)[0]
    # ...and one that has sent half a request head.
    partial = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    partial.sendall(b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
    try:
        srv.send_signal(sig)
        rc = srv.wait(SHUTDOWN_TIMEOUT_S)
        assert rc is not None, f"no exit within {SHUTDOWN_TIMEOUT_S:.0f} s with open connections\n{srv.log_text()}"
        assert rc == 0, f"exit code {rc}\n--- log ---\n{srv.log_text()}"
    finally:
        idle.close()
        partial.close()


def test_data_survives_a_clean_restart(fresh_server):
    srv = fresh_server("hokusai")
    client = mlflow.MlflowClient(tracking_uri=srv.url)
    name = unique("restart")
    exp_id = client.create_experiment(name, tags={"k": "v"})
    run = client.create_run(exp_id, start_time=T0, run_name="before-restart")
    rid = run.info.run_id
    client.log_batch(rid, metrics=[Metric("m", float(s), T0 + s, s) for s in range(10)],
                     params=[Param("lr", "0.1")])
    client.set_tag(rid, "team", "ml")
    client.set_terminated(rid, "FINISHED", end_time=T0 + 99)
    deleted = client.create_run(exp_id, start_time=T0 + 1).info.run_id
    client.delete_run(deleted)

    srv.stop_gracefully_or_fail()
    srv.start()

    client = mlflow.MlflowClient(tracking_uri=srv.url)
    exp = client.get_experiment_by_name(name)
    assert exp.experiment_id == exp_id and exp.tags.get("k") == "v"
    got = client.get_run(rid)
    assert got.info.run_name == "before-restart"
    assert got.info.status == "FINISHED" and got.info.end_time == T0 + 99
    assert got.data.metrics == {"m": 9.0}
    assert got.data.params == {"lr": "0.1"}
    assert got.data.tags["team"] == "ml"
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "m")] == [(s, float(s)) for s in range(10)]
    assert client.get_run(deleted).info.lifecycle_stage == "deleted"
    # New ids after the restart do not collide with old ones.
    new_exp = client.create_experiment(unique("after-restart"))
    assert new_exp != exp_id
    new_run = client.create_run(exp_id, start_time=T0 + 2).info.run_id
    assert new_run not in (rid, deleted)
    assert {r.info.run_id for r in client.search_runs([exp_id])} == {rid, new_run}


def test_restart_after_kill_9_while_idle(fresh_server):
    srv = fresh_server("hokusai")
    api = srv.api()
    run_id = api.create_run("0", start_time=T0)
    api.ok(api.post("/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.5, "timestamp": T0}))
    srv.kill9()
    srv.start()
    api = srv.api()
    assert api.run_data(run_id)["metrics"]["m"]["value"] == 1.5
    # And it still accepts writes.
    api.ok(api.post("/runs/log-metric", {"run_id": run_id, "key": "m", "value": 2.5, "timestamp": T0 + 1}))
    assert [p["value"] for p in api.metric_history(run_id, "m")] == [1.5, 2.5]
