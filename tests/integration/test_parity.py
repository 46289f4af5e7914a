"""Differential test: one scripted journey against a fresh Hokusai server and a fresh real MLflow server.

The journey uses MlflowClient with fixed timestamps, so both servers must end up with identical
observable state. Observations are normalised (no run ids, no server-chosen times, no client system
tags) and compared section by section, each section its own test.
"""

from __future__ import annotations

import json
import math

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from itest_helpers import API_PREFIX, ServerProcess, tracking_token

# The reference is the MLflow 3 server of the running venv, and the journey uses MLflow-3-only client
# APIs (delete_experiment_tag); with a 2.x venv there is no MLflow 3 reference to compare with.
pytestmark = [pytest.mark.hokusai_only, pytest.mark.requires_mlflow3]

T0 = 1_700_000_000_000
VOLATILE_TAG_PREFIXES = ("mlflow.source.", "mlflow.user", "mlflow.git", "mlflow.databricks")

# name, start offset, metric points [(key, value, ts offset, step)], params, tags, final status
RUNS = [
    ("r1", 1000, [("loss", 0.9, 1, 0), ("loss", 0.5, 2, 1), ("loss", 0.4, 3, 1), ("acc", 0.6, 4, 0)],
     {"lr": "0.01", "opt": "adam"}, {"team": "ml", "temp": "x"}, "FINISHED"),
    ("r2", 2000, [("loss", 0.7, 1, 0), ("loss", 0.2, 9, 5), ("acc", 0.8, 4, 0), ("acc", float("nan"), 5, 1)],
     {"lr": "0.1", "opt": "sgd"}, {"team": "ml"}, "FAILED"),
    ("r3", 3000, [("loss", 0.3, 1, 0), ("acc", 0.75, 4, 3), ("acc", 0.1, 99, 2)],
     {"lr": "0.001"}, {"team": "data"}, "RUNNING"),
    ("r4", 4000, [("acc", 0.95, 1, 0)], {"lr": "0.01", "opt": "adam"}, {}, "KILLED"),
    ("r5", 5000, [("loss", 0.1, 1, 0)], {"lr": "0.1"}, {"team": "ml"}, "FINISHED"),  # deleted later
    ("r6", 6000, [], {}, {"team": "ops"}, "FINISHED"),
]

RUN_SEARCHES = [
    ("", [], ViewType.ACTIVE_ONLY),
    ("", [], ViewType.ALL),
    ("", [], ViewType.DELETED_ONLY),
    ("metrics.loss < 0.5", [], ViewType.ACTIVE_ONLY),
    ("metrics.loss <= 0.4", [], ViewType.ALL),
    ("metrics.acc > 0.7", ["metrics.acc DESC"], ViewType.ACTIVE_ONLY),
    ("params.lr = '0.01'", [], ViewType.ACTIVE_ONLY),
    ("params.opt != 'adam'", [], ViewType.ACTIVE_ONLY),
    ("params.lr LIKE '%01'", ["start_time ASC"], ViewType.ACTIVE_ONLY),
    ("tags.team = 'ml'", [], ViewType.ALL),
    ("tags.team ILIKE 'M%'", [], ViewType.ACTIVE_ONLY),
    ("attributes.status = 'FINISHED'", [], ViewType.ALL),
    ("attributes.status != 'FINISHED'", [], ViewType.ACTIVE_ONLY),
    ("attributes.run_name LIKE 'r%'", ["attributes.run_name DESC"], ViewType.ACTIVE_ONLY),
    ("tags.\"mlflow.runName\" = 'r3-renamed'", [], ViewType.ACTIVE_ONLY),
    ("attributes.start_time >= %d" % (T0 + 3000), [], ViewType.ACTIVE_ONLY),
    ("attributes.end_time < %d" % (T0 + 3000), [], ViewType.ALL),
    ("metrics.loss > 0 AND params.lr = '0.01' AND tags.team = 'ml'", [], ViewType.ACTIVE_ONLY),
    ("", ["metrics.loss ASC"], ViewType.ACTIVE_ONLY),
    ("", ["metrics.loss DESC"], ViewType.ACTIVE_ONLY),
    ("", ["metrics.acc DESC", "start_time ASC"], ViewType.ACTIVE_ONLY),
    ("", ["params.lr DESC", "attributes.run_name ASC"], ViewType.ALL),
    ("", ["params.opt ASC", "start_time DESC"], ViewType.ACTIVE_ONLY),
    ("", ["tags.team ASC", "start_time ASC"], ViewType.ACTIVE_ONLY),
    ("", ["attributes.status ASC", "start_time DESC"], ViewType.ACTIVE_ONLY),
    ("", ["attributes.end_time ASC"], ViewType.ACTIVE_ONLY),
]


def outcome(fn):
    """'OK' or the MLflow error code the client raised."""
    try:
        fn()
        return "OK"
    except MlflowException as exc:
        return exc.error_code


def scrub_metric_value(v):
    return "NaN" if isinstance(v, float) and math.isnan(v) else v


def normalise_run(run, exp_names) -> dict:
    info = run.info
    return {
        "experiment": exp_names[info.experiment_id],
        "run_name": info.run_name,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "lifecycle_stage": info.lifecycle_stage,
        "metrics": {k: scrub_metric_value(v) for k, v in run.data.metrics.items()},
        "params": dict(run.data.params),
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith(VOLATILE_TAG_PREFIXES)},
    }


def scripted_journey(srv: ServerProcess) -> dict:
    """The journey against `srv` (the client and the raw probes carry its admin key, if it has one)."""
    with tracking_token(srv.admin_key):
        return _journey(srv.url, srv.http)


def _journey(url: str, http) -> dict:
    c = mlflow.MlflowClient(tracking_uri=url)
    out: dict = {}

    # Experiments.
    exp_ids = {}
    for name in ("parity-b", "parity-a", "parity-c", "parity-d", "parity-e"):
        exp_ids[name] = c.create_experiment(name, tags={"suite": "parity", "letter": name[-1]})
    c.set_experiment_tag(exp_ids["parity-a"], "extra", "1")
    c.set_experiment_tag(exp_ids["parity-b"], "extra", "2")
    c.delete_experiment_tag(exp_ids["parity-b"], "letter")
    c.delete_experiment(exp_ids["parity-d"])
    c.delete_experiment(exp_ids["parity-e"])
    c.restore_experiment(exp_ids["parity-e"])
    c.rename_experiment(exp_ids["parity-c"], "parity-c-renamed")

    # Runs in parity-a.
    exp = exp_ids["parity-a"]
    run_ids = {}
    for name, offset, points, params, tags, status in RUNS:
        run = c.create_run(exp, start_time=T0 + offset, run_name=name, tags={"created-with": name})
        rid = run_ids[name] = run.info.run_id
        metrics = [Metric(k, v, T0 + offset + ts, step) for k, v, ts, step in points]
        c.log_batch(rid, metrics=metrics, params=[Param(k, v) for k, v in params.items()],
                    tags=[RunTag(k, v) for k, v in tags.items()])
        if status != "RUNNING":
            c.set_terminated(rid, status=status, end_time=T0 + offset + 500)
    c.log_metric(run_ids["r1"], "single", 3.0, timestamp=T0 + 7, step=2)
    c.log_param(run_ids["r1"], "extra", "yes")
    c.delete_tag(run_ids["r1"], "temp")
    c.set_tag(run_ids["r3"], "mlflow.runName", "r3-renamed")
    c.update_run(run_ids["r4"], name="r4-renamed")
    c.delete_run(run_ids["r5"])
    c.delete_run(run_ids["r6"])
    c.restore_run(run_ids["r6"])
    other = c.create_run(exp_ids["parity-b"], start_time=T0 + 10_000, run_name="other")
    c.log_metric(other.info.run_id, "loss", 0.05, timestamp=T0 + 10_001, step=0)

    id_to_name = {v: k for k, v in exp_ids.items()}
    id_to_name[exp_ids["parity-c"]] = "parity-c-renamed"

    # Observations: experiments.
    out["experiments"] = {}
    for name, eid in sorted(exp_ids.items()):
        e = c.get_experiment(eid)
        out["experiments"][name] = {
            "name": e.name,
            "lifecycle_stage": e.lifecycle_stage,
            "tags": {k: v for k, v in e.tags.items() if not k.startswith("mlflow.")},
        }
    searches = {}
    for label, kwargs in [
        ("active-name-asc", dict(order_by=["name ASC"])),
        ("all-name-desc", dict(order_by=["name DESC"], view_type=ViewType.ALL)),
        ("deleted", dict(view_type=ViewType.DELETED_ONLY)),
        ("default-order", dict()),
        ("id-asc", dict(order_by=["experiment_id ASC"], view_type=ViewType.ALL)),
        ("tag-extra", dict(filter_string="tags.extra = '1'")),
        ("tag-suite-like", dict(filter_string="tags.suite LIKE 'par%'", order_by=["name ASC"])),
        ("name-ilike", dict(filter_string="name ILIKE 'PARITY-C%'")),
    ]:
        flt = kwargs.pop("filter_string", None)
        flt = "name LIKE 'parity-%'" + (f" AND {flt}" if flt else "")
        try:
            searches[label] = [e.name for e in c.search_experiments(filter_string=flt, **kwargs)]
        except MlflowException as exc:
            searches[label] = f"ERROR {exc.error_code}: {exc.message[:120]}"
    pages, token = [], None
    for _ in range(10):
        page = c.search_experiments(filter_string="name LIKE 'parity-%'", order_by=["name ASC"],
                                    view_type=ViewType.ALL, max_results=2, page_token=token)
        pages.append([e.name for e in page])
        token = page.token
        if not token:
            break
    searches["pages-of-2"] = pages
    out["experiment_search"] = searches

    # Observations: runs.
    all_runs = dict(run_ids, other=other.info.run_id)
    out["runs"] = {name: normalise_run(c.get_run(rid), id_to_name) for name, rid in sorted(all_runs.items())}
    out["histories"] = {
        name: {key: [(scrub_metric_value(m.value), m.timestamp, m.step) for m in c.get_metric_history(rid, key)]
               for key in ("loss", "acc", "single", "never")}
        for name, rid in sorted(all_runs.items())
    }
    run_search = {}
    for flt, order_by, view in RUN_SEARCHES:
        label = f"{flt or '<all>'} | {','.join(order_by) or '<default order>'} | {ViewType.to_string(view)}"
        try:
            runs = c.search_runs([exp], filter_string=flt, order_by=order_by, run_view_type=view)
            run_search[label] = [r.info.run_name for r in runs]
        except MlflowException as exc:  # recorded, so the comparison shows which server refused it
            run_search[label] = f"ERROR {exc.error_code}: {exc.message[:120]}"
    both = c.search_runs([exp, exp_ids["parity-b"]], filter_string="metrics.loss < 0.3")
    run_search["two experiments, loss < 0.3"] = [r.info.run_name for r in both]
    out["run_search"] = run_search
    pages, token = [], None
    for _ in range(10):
        page = c.search_runs([exp], order_by=["start_time ASC"], run_view_type=ViewType.ALL, max_results=2,
                             page_token=token)
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token:
            break
    out["run_pages"] = pages

    # Observations: the same invalid (and borderline) calls.
    r1, r5 = run_ids["r1"], run_ids["r5"]
    out["client_errors"] = {
        "get missing run": outcome(lambda: c.get_run("0" * 32)),
        "get missing experiment": outcome(lambda: c.get_experiment("424242")),
        "duplicate experiment": outcome(lambda: c.create_experiment("parity-a")),
        "name of a deleted experiment": outcome(lambda: c.create_experiment("parity-d")),
        "param same value": outcome(lambda: c.log_param(r1, "lr", "0.01")),
        "param new value": outcome(lambda: c.log_param(r1, "lr", "0.02")),
        "batch param new value": outcome(lambda: c.log_batch(r1, params=[Param("opt", "sgd")])),
        "metric to deleted run": outcome(lambda: c.log_metric(r5, "m", 1.0, timestamp=T0)),
        "param to deleted run": outcome(lambda: c.log_param(r5, "p", "v")),
        "tag to deleted run": outcome(lambda: c.set_tag(r5, "t", "v")),
        "delete missing tag": outcome(lambda: c.delete_tag(r1, "never-set")),
        "terminate missing run": outcome(lambda: c.set_terminated("0" * 32, "FINISHED")),
        "delete missing run": outcome(lambda: c.delete_run("0" * 32)),
        "delete missing experiment": outcome(lambda: c.delete_experiment("424242")),
        "filter with OR": outcome(lambda: c.search_runs([exp], "metrics.loss > 0 OR metrics.acc > 0")),
        "LIKE on a metric": outcome(lambda: c.search_runs([exp], "metrics.loss LIKE '1'")),
        "unknown entity in filter": outcome(lambda: c.search_runs([exp], "bogus.x = '1'")),
        "unquoted string": outcome(lambda: c.search_runs([exp], "params.lr = 0.01")),
        "bad order_by": outcome(lambda: c.search_runs([exp], order_by=["bogus.x DESC"])),
        "bad order_by direction": outcome(lambda: c.search_runs([exp], order_by=["start_time SIDEWAYS"])),
        "bad page token": outcome(lambda: c.search_runs([exp], page_token="not-a-token")),
        "bad experiment filter": outcome(lambda: c.search_experiments(filter_string="bogus = 'x'")),
        "bad experiment order_by": outcome(lambda: c.search_experiments(order_by=["bogus ASC"])),
        "restore active run": outcome(lambda: c.restore_run(r1)),
        "get run of deleted run": outcome(lambda: c.get_run(r5)),
    }
    out["raw_errors"] = raw_error_probe(url, http, r1)
    return out


RAW_PROBES = [
    ("POST", "/experiments/create", {}),
    ("POST", "/experiments/create", {"name": 123}),
    ("POST", "/experiments/create", {"name": ""}),
    ("POST", "/experiments/create", {"name": "x" * 501}),
    ("GET", "/experiments/get", {}),
    ("GET", "/experiments/get", {"experiment_id": "424242"}),
    ("GET", "/experiments/get-by-name", {"experiment_name": "no-such"}),
    ("GET", "/runs/get", {}),
    ("POST", "/runs/log-metric", {"RUN": 1, "key": "m", "value": "abc", "timestamp": T0}),
    ("POST", "/runs/log-metric", {"RUN": 1, "key": "m", "value": 1.0}),
    ("POST", "/runs/log-metric", {"RUN": 1, "key": "m" * 251, "value": 1.0, "timestamp": T0}),
    ("POST", "/runs/log-parameter", {"RUN": 1, "key": "../x", "value": "v"}),
    ("POST", "/runs/log-batch", {"RUN": 1, "metrics": [{"key": f"b{i}", "value": 1.0, "timestamp": T0}
                                                        for i in range(1001)]}),
    ("POST", "/runs/log-batch", {"RUN": 1, "params": [{"key": f"b{i}", "value": "v"} for i in range(101)]}),
    ("POST", "/runs/log-batch", {"RUN": 1, "tags": [{"key": f"b{i}", "value": "v"} for i in range(101)]}),
    ("POST", "/runs/log-batch", {"RUN": 1, "params": [{"key": "d", "value": "1"}, {"key": "d", "value": "2"}]}),
    ("POST", "/runs/search", {"experiment_ids": ["0"], "max_results": 100000}),
    ("POST", "/runs/search", {"experiment_ids": ["0"], "max_results": "many"}),
    ("GET", "/metrics/get-history", {"RUN": 1}),
]


def raw_error_probe(url: str, http, run_id: str) -> dict:
    results = {}
    for method, path, body in RAW_PROBES:
        label = f"{method} {path} {json.dumps(body)[:80]}"
        body = dict(body)
        if body.pop("RUN", None):
            body["run_id"] = run_id
        if method == "POST":
            r = http.post(url + API_PREFIX + path, json=body, timeout=30)
        else:
            r = http.get(url + API_PREFIX + path, params=body, timeout=30)
        try:
            code = r.json().get("error_code")
        except ValueError:
            code = "<non-JSON body>"
        results[label] = (r.status_code, code) if r.status_code != 200 else (200, None)
    return results


@pytest.fixture(scope="module")
def observations(mlflow_server, tmp_path_factory):
    """The journey's observations from a fresh real MLflow server and a fresh Hokusai server."""
    results = {"mlflow": scripted_journey(mlflow_server)}
    hokusai = ServerProcess("hokusai", tmp_path_factory.mktemp("parity-hokusai"))
    hokusai.start()
    try:
        results["hokusai"] = scripted_journey(hokusai)
        yield results
    finally:
        hokusai.stop_gracefully_or_fail()


SECTIONS = ["experiments", "experiment_search", "runs", "histories", "run_search", "run_pages",
            "client_errors", "raw_errors"]


@pytest.mark.parametrize("section", SECTIONS)
def test_parity(observations, section):
    reference = observations["mlflow"][section]
    ours = observations["hokusai"][section]
    if isinstance(reference, dict):
        differing = {k: {"mlflow": reference.get(k), "hokusai": ours.get(k)}
                     for k in sorted(set(reference) | set(ours)) if reference.get(k) != ours.get(k)}
        assert not differing, f"{section}: {len(differing)} differences:\n" + json.dumps(differing, indent=1,
                                                                                          default=str)
    else:
        assert ours == reference


def test_parity_journey_is_not_trivial(observations):
    """Guards the differential test itself: the reference run must have produced real data."""
    ref = observations["mlflow"]
    assert ref["runs"]["r1"]["metrics"] == {"loss": 0.4, "acc": 0.6, "single": 3.0}
    assert ref["run_search"]["<all> | <default order> | active_only"] == ["r6", "r4-renamed", "r3-renamed", "r2", "r1"]
    assert ref["client_errors"]["get missing run"] == "RESOURCE_DOES_NOT_EXIST"
    assert ref["client_errors"]["param same value"] == "OK"
