"""Registration events and their webhooks: every new model version (registration API, the stock
client's `mlflow.register_model`, raw `model-versions/create`) writes one `model_version.created`
event in its own transaction, and `serve --webhook-url URL` (secret from HOKUSAI_WEBHOOK_SECRET)
delivers it, signed, to a receiver run by the test.

Delivery is at least once, but a duplicate can only come from a crash or a lost answer between the
receiver's 2xx and the server recording it (src/events/webhook_dispatcher.cpp records the outcome right
after the answer). The receiver here answers at once and the server is only killed while the
receiver is down, so every test requires EXACTLY one 2xx arrival per event (raw arrivals are counted,
not deduplicated by event id).

Covered: headers, HMAC signature and payload of each delivery, matching /api/v1/events; a receiver
that is down and comes back (retried, then delivered once); a receiver answering 500 (dead after
--webhook-max-attempts, then replayed and delivered); several endpoints (HOKUSAI_WEBHOOK_URLS);
a failed registration writes no event; events written before a kill -9 are delivered after the
restart; the event routes are admin-only; the secret and the signatures never reach the server log;
webhook misconfiguration refuses to start.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import dataclass

import pytest

from itest_helpers import (QUIET_ENV, ServerProcess, free_port, hokusai_binary, register_secret,
                           store_bytes, unique)
from registration_helpers import (LoggedRun, WebhookReceiver, created, error_body, events_of,
                                  expected_signature, log_run_with_model, ok, register,
                                  store_readonly, tracking_as, v1, wait_for)

pytestmark = pytest.mark.hokusai_only

DEV_USER = "events-dev"
EVENT_TYPE = "model_version.created"
DELIVERY_TIMEOUT_S = 60.0


@dataclass
class Hooked:
    srv: ServerProcess
    receivers: list[WebhookReceiver]
    secret: str
    dev_key: str
    run: LoggedRun

    @property
    def receiver(self) -> WebhookReceiver:
        return self.receivers[0]


@pytest.fixture
def hooked(fresh_server, monkeypatch, models):
    """Factory: a fresh server delivering to `n` receivers (up unless `receiver_up=False`), with
    HOKUSAI_WEBHOOK_SECRET set, --webhook-backoff-ms 50, a developer key and a run holding a logged
    model (and the same model under `legacy` in the run's artifacts)."""
    receivers_started: list[WebhookReceiver] = []

    def start(*, receiver_up: bool = True, max_attempts: int | None = None, n: int = 1,
              via_env: bool = False, extra: list[str] | None = None) -> Hooked:
        receivers = [WebhookReceiver() for _ in range(n)]
        receivers_started.extend(receivers)
        if receiver_up:
            for r in receivers:
                r.up()
        secret = register_secret("whsec-" + uuid.uuid4().hex + uuid.uuid4().hex, "webhook secret")
        monkeypatch.setenv("HOKUSAI_WEBHOOK_SECRET", secret)
        args = ["--webhook-backoff-ms", "50", "--webhook-timeout", "5"]
        if via_env:
            monkeypatch.setenv("HOKUSAI_WEBHOOK_URLS", ",".join(r.url for r in receivers))
        else:
            for r in receivers:
                args += ["--webhook-url", r.url]
        if max_attempts is not None:
            args += ["--webhook-max-attempts", str(max_attempts)]
        srv = fresh_server(extra_args=args + (extra or []))
        dev_key = srv.create_key(DEV_USER, "developer")["api_key"]
        run = log_run_with_model(srv, dev_key, models.a, legacy_path="legacy")
        return Hooked(srv, receivers, secret, dev_key, run)

    yield start
    for r in receivers_started:
        r.down()


def reg_body(h: Hooked, name: str, **over) -> dict:
    body = {"model_name": name, "model_type": "classifier", "mlflow_run_id": h.run.run_id,
            "version": "v1", "metrics": {"accuracy": 0.9}, "tags": {"team": "ml"}}
    body.update(over)
    return body


def event_of(h: Hooked, event_id: str) -> dict:
    return ok(v1(h.srv, "GET", f"/events/{event_id}", h.srv.admin_key))


def only_event(h: Hooked, name: str) -> dict:
    events = events_of(h.srv, name)
    assert len(events) == 1, f"expected one event for {name!r}, got {events}"
    return events[0]


def wait_delivered(h: Hooked, event_id: str, timeout: float = DELIVERY_TIMEOUT_S) -> dict:
    def done():
        event = event_of(h, event_id)
        states = [d["state"] for d in event["deliveries"]]
        return event if states and all(s == "delivered" for s in states) else None
    return wait_for(done, timeout, f"event {event_id} delivered to every endpoint")


def wait_state(h: Hooked, event_id: str, state: str, timeout: float = DELIVERY_TIMEOUT_S) -> dict:
    def reached():
        event = event_of(h, event_id)
        return event if event["deliveries"] and all(d["state"] == state for d in event["deliveries"]) else None
    return wait_for(reached, timeout, f"event {event_id} {state}")


def check_arrival(h: Hooked, arrival, event: dict) -> None:
    """One delivery as the receiver got it: headers, signature, payload = the stored event."""
    hdr = arrival.headers
    assert arrival.path == "/hooks/hokusai", arrival.path
    assert hdr.get("content-type", "").startswith("application/json"), hdr
    assert hdr.get("x-hokusai-event-id") == event["event_id"], hdr
    assert hdr.get("x-hokusai-event-type") == EVENT_TYPE, hdr
    ts = hdr.get("x-hokusai-timestamp", "")
    assert ts.isdigit() and abs(int(ts) - arrival.at) < 600, (ts, arrival.at)
    assert hdr.get("x-hokusai-signature") == expected_signature(h.secret, ts, arrival.body), (
        "signature does not verify", hdr.get("x-hokusai-signature"))
    # A receiver holding a different secret must not verify it.
    assert hdr.get("x-hokusai-signature") != expected_signature(h.secret + "x", ts, arrival.body)
    payload = arrival.json()
    assert payload == event["payload"], (payload, event["payload"])
    assert payload["event_id"] == event["event_id"] and payload["type"] == EVENT_TYPE, payload
    assert payload["model_name"] == event["model_name"] and payload["version"] == event["version"], payload


def assert_secret_not_logged(h: Hooked) -> None:
    log = h.srv.log_path.read_text(errors="replace")
    assert h.secret not in log, "the webhook secret is in the server log"
    for r in h.receivers:
        for a in r.snapshot():
            sig = a.headers.get("x-hokusai-signature", "")
            assert not sig or sig.split("=", 1)[1] not in log, "a webhook signature is in the server log"
    stored = store_bytes(h.srv)
    assert stored, "the server stored nothing"
    for name, data in stored:
        assert h.secret.encode() not in data, f"the webhook secret is in {name}"


# --------------------------------------------------------------------------------------------------
# One signed event per version, whichever API made the version
# --------------------------------------------------------------------------------------------------


def test_every_new_version_is_one_signed_delivered_event(hooked):
    h = hooked()
    srv, rcv = h.srv, h.receiver
    made: dict[tuple[str, str], str] = {}  # (model, version) -> how

    # The registration API: register (twice into one model) and baseline.
    reg_name = unique("ev-reg")
    for i in (1, 2):
        created(register(srv, h.dev_key, reg_body(h, reg_name, alias="champion")))
        made[(reg_name, str(i))] = "register"
    model_type = unique("t").replace("-", "_")
    created(register(srv, h.dev_key, {"model_type": model_type, "mlflow_run_id": h.run.run_id},
                     endpoint="baseline"))
    made[(f"hokusai_{model_type}_baseline", "1")] = "baseline"

    # The stock client.
    import mlflow

    client_name = unique("ev-client")
    with tracking_as(srv, h.dev_key):
        mv = mlflow.register_model(f"runs:/{h.run.run_id}/model", client_name)
    made[(client_name, str(mv.version))] = "mlflow.register_model"

    # Raw MLflow REST: a model without versions makes no event; its version does.
    api = srv.api(h.dev_key)
    raw_name = unique("ev-raw")
    assert api.post("/registered-models/create", {"name": raw_name}).status_code == 200
    resp = api.post("/model-versions/create", {"name": raw_name, "source": f"runs:/{h.run.run_id}/legacy",
                                               "run_id": h.run.run_id})
    assert resp.status_code == 200, resp.text
    made[(raw_name, resp.json()["model_version"]["version"])] = "model-versions/create"

    names = {name for name, _ in made}
    events = [e for e in events_of(srv) if e["model_name"] in names]
    assert sorted((e["model_name"], e["version"]) for e in events) == sorted(made), events
    assert all(e["type"] == EVENT_TYPE for e in events)
    assert len({e["event_id"] for e in events}) == len(events)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs

    for e in events:
        wait_delivered(h, e["event_id"])
    # A sentinel registered last is delivered after everything before it: once it has arrived,
    # any duplicate of the earlier events would have arrived too.
    sentinel = created(register(srv, h.dev_key, reg_body(h, unique("ev-sentinel"))))
    wait_delivered(h, only_event(h, sentinel["model_name"])["event_id"])

    for e in events:
        arrivals = rcv.arrivals_for(e["event_id"])
        assert len(arrivals) == 1, (made[(e["model_name"], e["version"])], len(arrivals))
        assert arrivals[0].answered == 200
        check_arrival(h, arrivals[0], e)
        stored = event_of(h, e["event_id"])
        assert [(d["endpoint"], d["state"], d["attempts"], d.get("last_status")) for d in stored["deliveries"]] == \
            [(rcv.url, "delivered", 1, 200)], stored["deliveries"]
        assert "next_attempt_at" not in stored["deliveries"][0] and stored["deliveries"][0].get("delivered_at")
        assert {k: stored[k] for k in ("seq", "event_id", "type", "model_name", "version", "payload")} == \
            {k: e[k] for k in ("seq", "event_id", "type", "model_name", "version", "payload")}
    assert len(rcv.snapshot()) == len(made) + 1, [a.event_id for a in rcv.snapshot()]

    # The payload of a registration names its source, run, user and the version's tags.
    reg_event = next(e for e in events if e["model_name"] == reg_name and e["version"] == "1")
    payload = reg_event["payload"]
    assert payload["run_id"] == h.run.run_id and payload.get("user_id") == DEV_USER, payload
    assert payload["source"] == (f"models:/{h.run.model_id}" if h.run.model_id else f"runs:/{h.run.run_id}/model")
    assert payload["tags"]["hokusai.model_type"] == "classifier" and payload["tags"]["team"] == "ml", payload
    # created_at is RFC 3339.
    assert "T" in payload["created_at"] and payload["created_at"].endswith("Z"), payload["created_at"]

    # Filters.
    delivered = {e["event_id"] for e in events_of(srv, state="delivered")}
    assert {e["event_id"] for e in events} <= delivered
    assert events_of(srv, state="pending") == [] and events_of(srv, state="dead") == []
    assert [e["event_id"] for e in events_of(srv, reg_name)] == \
        [e["event_id"] for e in events if e["model_name"] == reg_name]
    page = ok(v1(srv, "GET", "/events", srv.admin_key, params={"max_results": 2}))
    assert len(page["events"]) == 2 and page.get("next_page_token"), page
    rest = ok(v1(srv, "GET", "/events", srv.admin_key, params={"max_results": 1000,
                                                                "page_token": page["next_page_token"]}))
    all_ids = [e["event_id"] for e in page["events"] + rest["events"]]
    assert all_ids == [e["event_id"] for e in events_of(srv)] and len(set(all_ids)) == len(all_ids)
    for params in ({"state": "gone"}, {"max_results": 0}, {"max_results": 1001}, {"page_token": "x"}):
        error_body(v1(srv, "GET", "/events", srv.admin_key, params=params), 400, "INVALID_PARAMETER_VALUE")
    assert_secret_not_logged(h)


def test_two_endpoints_from_the_environment_each_get_every_event_once(hooked):
    h = hooked(n=2, via_env=True)
    name = unique("ev-two")
    created(register(h.srv, h.dev_key, reg_body(h, name)))
    event = wait_delivered(h, only_event(h, name)["event_id"])
    assert sorted(d["endpoint"] for d in event["deliveries"]) == sorted(r.url for r in h.receivers)
    for r in h.receivers:
        arrivals = r.arrivals_for(event["event_id"])
        assert len(arrivals) == 1, (r.url, len(arrivals))
        check_arrival(h, arrivals[0], event)


# --------------------------------------------------------------------------------------------------
# Failures: receiver down, receiver failing, failed registrations
# --------------------------------------------------------------------------------------------------


def test_a_receiver_that_is_down_gets_each_event_once_when_it_comes_back(hooked):
    h = hooked(receiver_up=False, max_attempts=40)
    srv, rcv = h.srv, h.receiver
    names = [unique("ev-down") for _ in range(3)]
    for name in names:
        created(register(srv, h.dev_key, reg_body(h, name)))
    ids = [only_event(h, name)["event_id"] for name in names]

    def retried():
        event = event_of(h, ids[0])
        d = event["deliveries"][0]
        return event if d["attempts"] >= 2 else None
    event = wait_for(retried, DELIVERY_TIMEOUT_S, "a few failed attempts while the receiver is down")
    d = event["deliveries"][0]
    assert d["state"] == "pending" and d.get("next_attempt_at") and d.get("last_error"), d
    assert "last_status" not in d or d["last_status"] == 0, d
    assert {e["event_id"] for e in events_of(srv, state="pending")} >= set(ids)

    rcv.up()
    for event_id in ids:
        wait_delivered(h, event_id)
    sentinel = created(register(srv, h.dev_key, reg_body(h, unique("ev-sentinel"))))
    wait_delivered(h, only_event(h, sentinel["model_name"])["event_id"])
    for event_id in ids:
        arrivals = rcv.arrivals_for(event_id)
        assert len(arrivals) == 1, (event_id, len(arrivals))
        check_arrival(h, arrivals[0], event_of(h, event_id))
        stored = event_of(h, event_id)["deliveries"][0]
        assert stored["state"] == "delivered" and stored["attempts"] >= 2 and stored["last_status"] == 200, stored
    assert_secret_not_logged(h)


def test_a_failing_receiver_makes_the_event_dead_and_replay_delivers_it(hooked):
    h = hooked(max_attempts=3)
    srv, rcv = h.srv, h.receiver
    rcv.status = 500
    name = unique("ev-dead")
    created(register(srv, h.dev_key, reg_body(h, name)))
    event_id = only_event(h, name)["event_id"]
    dead = wait_state(h, event_id, "dead")
    d = dead["deliveries"][0]
    assert d["attempts"] == 3 and d["last_status"] == 500 and "next_attempt_at" not in d, d
    assert "delivered_at" not in d, d
    assert [a.answered for a in rcv.arrivals_for(event_id)] == [500, 500, 500]
    assert event_id in {e["event_id"] for e in events_of(srv, state="dead")}
    assert event_id not in {e["event_id"] for e in events_of(srv, state="delivered")}
    for a in rcv.arrivals_for(event_id):
        check_arrival(h, a, dead)  # every attempt is signed, with the same payload

    # Replay: back to pending with 0 attempts; delivered now that the receiver answers 200.
    rcv.status = 200
    replayed = ok(v1(srv, "POST", f"/events/{event_id}/replay", srv.admin_key, json_body={}))
    assert replayed["event_id"] == event_id
    assert replayed["deliveries"][0]["state"] in ("pending", "delivered"), replayed
    done = wait_delivered(h, event_id)
    assert done["deliveries"][0]["last_status"] == 200, done
    arrivals = rcv.arrivals_for(event_id)
    assert [a.answered for a in arrivals] == [500, 500, 500, 200], [a.answered for a in arrivals]
    assert len({a.json()["event_id"] for a in arrivals}) == 1
    check_arrival(h, arrivals[-1], done)

    # Replay of an unknown event or to an unregistered endpoint; malformed ids.
    error_body(v1(srv, "POST", f"/events/{uuid.uuid4()}/replay", srv.admin_key, json_body={}), 404,
               "RESOURCE_DOES_NOT_EXIST")
    error_body(v1(srv, "GET", f"/events/{uuid.uuid4()}", srv.admin_key), 404, "RESOURCE_DOES_NOT_EXIST")
    for bad in ("not-a-uuid", str(uuid.uuid4()).upper(), "0" * 36):
        error_body(v1(srv, "GET", f"/events/{bad}", srv.admin_key), 400, "INVALID_PARAMETER_VALUE")
    error_body(v1(srv, "POST", f"/events/{event_id}/replay", srv.admin_key, json_body={"bogus": 1}), 400,
               "INVALID_PARAMETER_VALUE")
    unknown = v1(srv, "POST", f"/events/{event_id}/replay", srv.admin_key,
                 json_body={"endpoint": f"http://127.0.0.1:{free_port()}/never-configured"})
    assert unknown.status_code in (400, 404), unknown.text
    assert len(rcv.arrivals_for(event_id)) == 4
    assert_secret_not_logged(h)


def test_a_failed_registration_makes_no_event(hooked):
    h = hooked()
    srv, rcv = h.srv, h.receiver
    failed = unique("ev-failed")
    error_body(register(srv, h.dev_key, reg_body(h, failed, mlflow_run_id="0" * 32)), 404,
               "RESOURCE_DOES_NOT_EXIST")
    error_body(register(srv, h.dev_key, reg_body(h, failed, artifact_path="nothing")), 404,
               "RESOURCE_DOES_NOT_EXIST")
    error_body(register(srv, h.dev_key, reg_body(h, failed, alias="latest")), 400, "INVALID_PARAMETER_VALUE")
    api = srv.api(h.dev_key)
    bad = api.post("/model-versions/create", {"name": unique("ev-no-model"), "source": f"runs:/{h.run.run_id}/legacy"})
    assert bad.status_code in (403, 404), bad.text  # no such model (the gate may refuse first)
    # Everything up to the next good registration has been delivered once it is.
    good = created(register(srv, h.dev_key, reg_body(h, unique("ev-good"))))
    good_event = only_event(h, good["model_name"])
    wait_delivered(h, good_event["event_id"])
    assert events_of(srv, failed) == []
    assert [e["model_name"] for e in events_of(srv)] == [good["model_name"]]
    assert [a.event_id for a in rcv.snapshot()] == [good_event["event_id"]]
    with store_readonly(srv) as conn:
        assert conn.execute("SELECT count(*) FROM registration_events").fetchone()[0] == 1


# --------------------------------------------------------------------------------------------------
# Durability
# --------------------------------------------------------------------------------------------------


def test_events_written_before_a_kill_9_are_delivered_after_the_restart(hooked):
    h = hooked(receiver_up=False, max_attempts=40)
    srv, rcv = h.srv, h.receiver
    names = [unique("ev-crash") for _ in range(2)]
    for name in names:
        created(register(srv, h.dev_key, reg_body(h, name)))
    # And one through the MLflow API.
    import mlflow

    client_name = unique("ev-crash-client")
    with tracking_as(srv, h.dev_key):
        mlflow.register_model(f"runs:/{h.run.run_id}/model", client_name)
    names.append(client_name)
    before = {name: only_event(h, name)["event_id"] for name in names}
    srv.kill9()
    assert rcv.snapshot() == []

    srv.start()  # same directory, same --webhook-url and secret (still in the environment)
    assert {name: only_event(h, name)["event_id"] for name in names} == before
    rcv.up()
    for event_id in before.values():
        wait_delivered(h, event_id)
    sentinel = created(register(srv, h.dev_key, reg_body(h, unique("ev-sentinel"))))
    wait_delivered(h, only_event(h, sentinel["model_name"])["event_id"])
    for name, event_id in before.items():
        arrivals = rcv.arrivals_for(event_id)
        assert len(arrivals) == 1, (name, len(arrivals))
        check_arrival(h, arrivals[0], event_of(h, event_id))
    assert_secret_not_logged(h)


def test_a_new_endpoint_gets_no_backlog_and_replay_targets_endpoints_that_exist(hooked):
    """Restarted with another URL: the old endpoint becomes inactive and the new one starts at the
    end of the outbox; replay to the new endpoint sends the old event there once; replay without an
    endpoint must not leave a delivery pending forever for the inactive endpoint."""
    h = hooked()
    srv, old = h.srv, h.receiver
    first = created(register(srv, h.dev_key, reg_body(h, unique("ev-old"))))
    old_id = only_event(h, first["model_name"])["event_id"]
    wait_delivered(h, old_id)

    new = WebhookReceiver().up()
    h.receivers.append(new)
    try:
        assert srv.stop() == 0
        srv.extra_args = [a if a != old.url else new.url for a in srv.extra_args]
        srv.start()
        second = created(register(srv, h.dev_key, reg_body(h, unique("ev-new"))))
        new_id = only_event(h, second["model_name"])["event_id"]
        wait_delivered(h, new_id)
        assert [d["endpoint"] for d in event_of(h, new_id)["deliveries"]] == [new.url]
        assert new.arrivals_for(old_id) == [] and old.arrivals_for(new_id) == []

        # Replay to the new endpoint: delivered there, once.
        ok(v1(srv, "POST", f"/events/{old_id}/replay", srv.admin_key, json_body={"endpoint": new.url}))
        wait_for(lambda: new.arrivals_for(old_id), DELIVERY_TIMEOUT_S, "the replayed event at the new endpoint")
        sentinel = created(register(srv, h.dev_key, reg_body(h, unique("ev-sentinel"))))
        wait_delivered(h, only_event(h, sentinel["model_name"])["event_id"])
        assert len(new.arrivals_for(old_id)) == 1
        check_arrival(h, new.arrivals_for(old_id)[0], event_of(h, old_id))
        assert len(old.arrivals_for(old_id)) == 1  # the inactive endpoint got nothing more

        # Replay without an endpoint: whatever it does, no delivery may stay pending for good.
        ok(v1(srv, "POST", f"/events/{old_id}/replay", srv.admin_key, json_body={}))
        sentinel = created(register(srv, h.dev_key, reg_body(h, unique("ev-sentinel"))))
        wait_delivered(h, only_event(h, sentinel["model_name"])["event_id"])
        time.sleep(2.5)  # more than the dispatcher's poll interval (1 s)
        stuck = [d for d in event_of(h, old_id)["deliveries"] if d["state"] == "pending"]
        assert not stuck, (
            f"replay without an endpoint left deliveries pending that are never attempted: {stuck}; "
            f"(inactive endpoint {old.url}, active {new.url}); arrivals at the inactive endpoint: "
            f"{len(old.arrivals_for(old_id))}, at the active one: {len(new.arrivals_for(old_id))}")
    finally:
        new.down()


# --------------------------------------------------------------------------------------------------
# Access and configuration
# --------------------------------------------------------------------------------------------------


def test_event_routes_are_admin_only(hooked):
    h = hooked()
    srv = h.srv
    name = unique("ev-access")
    created(register(srv, h.dev_key, reg_body(h, name)))
    event_id = only_event(h, name)["event_id"]
    reader_key = srv.create_key("events-reader", "reader")["api_key"]
    calls = [("GET", "/events", None), ("GET", f"/events/{event_id}", None),
             ("POST", f"/events/{event_id}/replay", {})]
    for key in (h.dev_key, reader_key):
        for method, path, body in calls:
            error_body(v1(srv, method, path, key, json_body=body), 403, "PERMISSION_DENIED")
    for method, path, body in calls:
        assert v1(srv, method, path, None, json_body=body).status_code == 401
    wait_delivered(h, event_id)
    assert len(h.receiver.arrivals_for(event_id)) == 1  # the refused replay sent nothing


def _serve_briefly(tmp_path, args: list[str], env_extra: dict[str, str]) -> tuple[int | None, str]:
    """Starts `serve` with `args` (output kept in memory, never logged: it may hold a first-start
    key) and returns (exit code, output) if it exits within 20 s, else (None, output) after
    stopping it."""
    db = tmp_path / "registry.db"
    cmd = [str(hokusai_binary()), "serve", "--host", "127.0.0.1", "--port", str(free_port()),
           "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination", str(tmp_path / "art")] + args
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOKUSAI_WEBHOOK")}
    env.update(QUIET_ENV)
    env.update(env_extra)
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    try:
        out, _ = proc.communicate(timeout=20)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        return None, out.decode(errors="replace")


@pytest.mark.parametrize("case", ["no-secret", "https", "not-a-url", "duplicate"])
def test_webhook_misconfiguration_refuses_to_start(tmp_path, case):
    url = f"http://127.0.0.1:{free_port()}/hook"
    env = {"HOKUSAI_WEBHOOK_SECRET": "s3cret-" + uuid.uuid4().hex}
    args = {"no-secret": ["--webhook-url", url],
            "https": ["--webhook-url", "https://127.0.0.1:9/hook"],
            "not-a-url": ["--webhook-url", "ftp://example/hook"],
            "duplicate": ["--webhook-url", url, "--webhook-url", url]}[case]
    if case == "no-secret":
        env = {}
    code, out = _serve_briefly(tmp_path, args, env)
    assert code not in (None, 0), f"{case}: the server started (or exited 0):\n{out[-2000:]}"
    assert "webhook" in out.lower(), out[-2000:]
    if env:
        assert env["HOKUSAI_WEBHOOK_SECRET"] not in out


def test_the_secret_is_not_taken_from_the_command_line(tmp_path):
    """The signing secret comes from HOKUSAI_WEBHOOK_SECRET only: on the command line it would be
    visible to every user of the machine (`ps`). A `--webhook-secret` flag must be refused."""
    secret = "s3cret-" + uuid.uuid4().hex
    code, out = _serve_briefly(tmp_path, ["--webhook-url", f"http://127.0.0.1:{free_port()}/hook",
                                          "--webhook-secret", secret], {})
    assert code not in (None, 0), (
        "serve accepted --webhook-secret on the command line (the secret would show in `ps`)")
    assert secret not in out
