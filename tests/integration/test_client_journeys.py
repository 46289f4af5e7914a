"""The stock mlflow client, unmodified, against the server under test (--target=hokusai|mlflow)."""

from __future__ import annotations

import math
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException

from itest_helpers import tracking_token, unique

T0 = 1_700_000_000_000  # fixed epoch-ms base for every timestamp we choose ourselves


def error_code_of(excinfo) -> str:
    return excinfo.value.error_code


def names_of(runs) -> list[str]:
    return [r.info.run_name for r in runs]


# --------------------------------------------------------------------------------------------------
# Experiments: default, set_experiment, create/get
# --------------------------------------------------------------------------------------------------


def test_default_experiment_0_exists(client):
    exp = client.get_experiment("0")
    assert exp.experiment_id == "0"
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_fluent_run_without_set_experiment_goes_to_default(tracking_uri, client):
    with mlflow.start_run() as run:
        mlflow.log_param("where", "default")
    assert run.info.experiment_id == "0"
    got = client.get_run(run.info.run_id)
    assert got.info.experiment_id == "0"
    assert got.data.params == {"where": "default"}
    assert got.info.status == "FINISHED"
    # The server generated a run name and kept the tag in sync.
    assert got.info.run_name
    assert got.data.tags.get("mlflow.runName") == got.info.run_name


def test_set_experiment_creates_if_missing_then_reuses(tracking_uri, client):
    name = unique("journey-setexp")
    assert client.get_experiment_by_name(name) is None
    exp = mlflow.set_experiment(name)
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.experiment_id != "0"
    assert exp.artifact_location  # something the client can resolve
    again = mlflow.set_experiment(name)
    assert again.experiment_id == exp.experiment_id
    assert client.get_experiment_by_name(name).experiment_id == exp.experiment_id
    assert client.get_experiment(exp.experiment_id).name == name


def test_get_experiment_by_name_missing_returns_none(client):
    assert client.get_experiment_by_name(unique("no-such-experiment")) is None


def test_get_missing_experiment_and_run_raise_resource_does_not_exist(client):
    with pytest.raises(MlflowException) as e1:
        client.get_experiment("987654321")
    assert error_code_of(e1) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e2:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert error_code_of(e2) == "RESOURCE_DOES_NOT_EXIST"


def test_duplicate_experiment_name_is_resource_already_exists(client):
    name = unique("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as excinfo:
        client.create_experiment(name)
    assert error_code_of(excinfo) == "RESOURCE_ALREADY_EXISTS"


def test_create_experiment_with_tags(client):
    name = unique("exp-tags")
    exp_id = client.create_experiment(name, tags={"owner": "alice", "stage": "dev"})
    exp = client.get_experiment(exp_id)
    assert exp.tags.get("owner") == "alice"
    assert exp.tags.get("stage") == "dev"


# --------------------------------------------------------------------------------------------------
# The basic fluent journey (spec 6(a))
# --------------------------------------------------------------------------------------------------


def test_fluent_journey_params_metrics_tags_end_run(tracking_uri, client):
    exp = mlflow.set_experiment(unique("journey"))
    with mlflow.start_run(run_name="r1") as run:
        run_id = run.info.run_id
        assert run.info.run_name == "r1"
        assert run.info.status == "RUNNING"
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"batch_size": 32, "optimizer": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=7)
        mlflow.set_tag("team", "ml")
        mlflow.set_tags({"purpose": "test", "empty": ""})
        mid = client.get_run(run_id)
        assert mid.info.status == "RUNNING"
        assert mid.info.end_time is None

    got = client.get_run(run_id)
    assert got.info.experiment_id == exp.experiment_id
    assert got.info.run_name == "r1"
    assert got.info.status == "FINISHED"
    assert got.info.lifecycle_stage == "active"
    assert got.info.end_time is not None and got.info.end_time >= got.info.start_time
    assert got.info.artifact_uri.endswith(f"{run_id}/artifacts")
    assert got.data.params == {"lr": "0.01", "batch_size": "32", "optimizer": "adam"}
    assert got.data.metrics == {"loss": pytest.approx(0.2), "acc": 0.5, "f1": 0.25}
    for key, value in {"team": "ml", "purpose": "test", "empty": "", "mlflow.runName": "r1"}.items():
        assert got.data.tags.get(key) == value, key
    # The client's own system tags made it through runs/create.
    assert "mlflow.user" in got.data.tags
    assert "mlflow.source.name" in got.data.tags

    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, pytest.approx(1.0 / (s + 1))) for s in range(5)]
    assert all(m.key == "loss" for m in history)
    acc = client.get_metric_history(run_id, "acc")
    assert [(m.step, m.value) for m in acc] == [(7, 0.5)]


def test_run_failed_status_on_exception(tracking_uri, client):
    mlflow.set_experiment(unique("journey-fail"))
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run() as run:
            1 / 0
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_set_terminated_statuses(client):
    exp_id = client.create_experiment(unique("terminated"))
    for status in ("FINISHED", "FAILED", "KILLED"):
        run = client.create_run(exp_id, start_time=T0)
        client.set_terminated(run.info.run_id, status=status, end_time=T0 + 5000)
        got = client.get_run(run.info.run_id)
        assert got.info.status == status
        assert got.info.end_time == T0 + 5000
        assert got.info.start_time == T0


def test_resume_run(tracking_uri, client):
    mlflow.set_experiment(unique("journey-resume"))
    with mlflow.start_run(run_name="resumable") as run:
        run_id = run.info.run_id
        mlflow.log_metric("m", 1.0, step=0)
    first = client.get_run(run_id)
    assert first.info.status == "FINISHED"

    with mlflow.start_run(run_id=run_id) as resumed:
        assert resumed.info.run_id == run_id
        assert client.get_run(run_id).info.status == "RUNNING"
        mlflow.log_metric("m", 2.0, step=1)
        mlflow.log_param("resumed", "yes")
    final = client.get_run(run_id)
    assert final.info.status == "FINISHED"
    assert final.info.run_name == "resumable"
    assert final.info.end_time >= first.info.end_time
    assert final.data.metrics == {"m": 2.0}
    assert final.data.params == {"resumed": "yes"}
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "m")] == [(0, 1.0), (1, 2.0)]


# --------------------------------------------------------------------------------------------------
# Metrics: latest-value rule, history, non-finite values, batches
# --------------------------------------------------------------------------------------------------


def test_latest_metric_is_max_step_then_max_timestamp(client, api):
    run_id = client.create_run("0", start_time=T0).info.run_id
    # x: max step is 5 (two points); of those the later timestamp wins, although a larger value
    # and a later timestamp exist at lower steps.
    for value, ts, step in [(1.0, T0 + 1000, 5), (2.0, T0 + 2000, 5), (3.0, T0 + 9000, 3), (9.0, T0 + 500, 4)]:
        client.log_metric(run_id, "x", value, timestamp=ts, step=step)
    # y: same step; the later timestamp wins although logged first.
    client.log_metric(run_id, "y", 7.0, timestamp=T0 + 3000, step=0)
    client.log_metric(run_id, "y", 8.0, timestamp=T0 + 2000, step=0)
    # z: no step given -> step 0.
    client.log_metric(run_id, "z", 4.0, timestamp=T0)

    run = client.get_run(run_id)
    assert run.data.metrics == {"x": 2.0, "y": 7.0, "z": 4.0}

    # The full Metric of the latest point, as sent on the wire.
    wire = api.run_data(run_id)["metrics"]
    assert (wire["x"]["value"], wire["x"]["step"], wire["x"]["timestamp"]) == (2.0, 5, T0 + 2000)
    assert (wire["y"]["value"], wire["y"]["step"], wire["y"]["timestamp"]) == (7.0, 0, T0 + 3000)
    assert (wire["z"]["value"], wire["z"].get("step", 0), wire["z"]["timestamp"]) == (4.0, 0, T0)

    # Search filters and ordering use the latest value too.
    exp_runs = client.search_runs(["0"], filter_string=f"attributes.run_id = '{run_id}' AND metrics.x = 2")
    assert [r.info.run_id for r in exp_runs] == [run_id]
    none = client.search_runs(["0"], filter_string=f"attributes.run_id = '{run_id}' AND metrics.x > 2")
    assert list(none) == []


def test_metric_history_returns_every_point_in_order(client):
    run_id = client.create_run("0", start_time=T0).info.run_id
    points = [(float(i) * 0.5, T0 + i * 10, i) for i in range(30)]
    for value, ts, step in points:
        client.log_metric(run_id, "curve", value, timestamp=ts, step=step)
    history = client.get_metric_history(run_id, "curve")
    assert [(m.value, m.timestamp, m.step) for m in history] == points
    assert client.get_metric_history(run_id, "never-logged") == []


def test_metric_history_with_repeated_steps_keeps_all_points(client):
    run_id = client.create_run("0", start_time=T0).info.run_id
    client.log_metric(run_id, "r", 1.0, timestamp=T0 + 1, step=0)
    client.log_metric(run_id, "r", 2.0, timestamp=T0 + 2, step=0)
    client.log_metric(run_id, "r", 3.0, timestamp=T0 + 3, step=1)
    history = client.get_metric_history(run_id, "r")
    assert sorted((m.step, m.timestamp, m.value) for m in history) == [
        (0, T0 + 1, 1.0), (0, T0 + 2, 2.0), (1, T0 + 3, 3.0)]


def test_nan_and_infinite_metric_values(client):
    run_id = client.create_run("0", start_time=T0).info.run_id
    client.log_metric(run_id, "nan", float("nan"), timestamp=T0, step=0)
    client.log_metric(run_id, "pinf", float("inf"), timestamp=T0, step=0)
    client.log_metric(run_id, "ninf", float("-inf"), timestamp=T0, step=0)
    client.log_batch(run_id, metrics=[
        Metric("bnan", float("nan"), T0, 0),
        Metric("binf", float("inf"), T0, 0),
    ])
    metrics = client.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert math.isnan(metrics["bnan"])
    # MLflow's SQL store replaces +/-inf by +/-DBL_MAX; Hokusai does the same on purpose
    # (docs/decisions/0003-metric-infinity-and-nan.md), so both targets return DBL_MAX.
    pinf, ninf = sys.float_info.max, -sys.float_info.max
    assert metrics["pinf"] == pinf
    assert metrics["binf"] == pinf
    assert metrics["ninf"] == ninf
    assert math.isnan(client.get_metric_history(run_id, "nan")[0].value)
    assert [m.value for m in client.get_metric_history(run_id, "pinf")] == [pinf]
    assert [m.value for m in client.get_metric_history(run_id, "ninf")] == [ninf]


def test_log_batch_with_entities(client):
    run_id = client.create_run("0", start_time=T0).info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("m1", 0.1, T0 + 1, 0), Metric("m1", 0.2, T0 + 2, 1), Metric("m2", -3.5, T0 + 3, 9)],
        params=[Param("p1", "a"), Param("p2", "b b")],
        tags=[RunTag("t1", "x"), RunTag("t2", "")],
    )
    run = client.get_run(run_id)
    assert run.data.metrics == {"m1": 0.2, "m2": -3.5}
    assert run.data.params == {"p1": "a", "p2": "b b"}
    assert run.data.tags["t1"] == "x"
    assert run.data.tags["t2"] == ""
    assert [(m.value, m.timestamp, m.step) for m in client.get_metric_history(run_id, "m1")] == [
        (0.1, T0 + 1, 0), (0.2, T0 + 2, 1)]


def test_log_batch_larger_than_server_limits_is_chunked_by_client(client):
    """1500 metrics and 150 params: the client splits them; the server must store all of them."""
    run_id = client.create_run("0", start_time=T0).info.run_id
    metrics = [Metric("big", float(i), T0 + i, i) for i in range(1500)]
    params = [Param(f"p{i:03d}", str(i)) for i in range(150)]
    client.log_batch(run_id, metrics=metrics, params=params)
    history = client.get_metric_history(run_id, "big")
    assert len(history) == 1500
    assert sorted(m.step for m in history) == list(range(1500))
    run = client.get_run(run_id)
    assert run.data.metrics["big"] == 1499.0
    assert len(run.data.params) == 150
    assert run.data.params["p149"] == "149"


# --------------------------------------------------------------------------------------------------
# Params and tags
# --------------------------------------------------------------------------------------------------


def test_log_param_same_value_twice_ok_different_value_rejected(client):
    run_id = client.create_run("0", start_time=T0).info.run_id
    client.log_param(run_id, "lr", "0.01")
    client.log_param(run_id, "lr", "0.01")  # a retry / autolog re-log must succeed
    client.log_batch(run_id, params=[Param("lr", "0.01")])
    with pytest.raises(MlflowException) as excinfo:
        client.log_param(run_id, "lr", "0.02")
    assert error_code_of(excinfo) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as excinfo2:
        client.log_batch(run_id, params=[Param("lr", "0.03")])
    assert error_code_of(excinfo2) == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params == {"lr": "0.01"}


def test_set_tag_overwrites_and_delete_tag(client):
    run_id = client.create_run("0", start_time=T0).info.run_id
    client.set_tag(run_id, "k", "v1")
    client.set_tag(run_id, "k", "v2")
    client.set_tag(run_id, "other", "o")
    assert client.get_run(run_id).data.tags["k"] == "v2"
    client.delete_tag(run_id, "k")
    tags = client.get_run(run_id).data.tags
    assert "k" not in tags
    assert tags["other"] == "o"


def test_set_tag_run_name_renames_run(client):
    run_id = client.create_run("0", start_time=T0, run_name="before").info.run_id
    client.set_tag(run_id, "mlflow.runName", "after")
    run = client.get_run(run_id)
    assert run.info.run_name == "after"
    assert run.data.tags["mlflow.runName"] == "after"
    found = client.search_runs(["0"], filter_string=f"attributes.run_id = '{run_id}' AND attributes.run_name = 'after'")
    assert [r.info.run_id for r in found] == [run_id]


def test_update_run_name_updates_tag(client):
    run_id = client.create_run("0", start_time=T0, run_name="old-name").info.run_id
    client.update_run(run_id, name="new-name")
    run = client.get_run(run_id)
    assert run.info.run_name == "new-name"
    assert run.data.tags["mlflow.runName"] == "new-name"


# --------------------------------------------------------------------------------------------------
# Lifecycle: delete / restore / rename / experiment tags
# --------------------------------------------------------------------------------------------------


def test_delete_and_restore_run(client):
    exp_id = client.create_experiment(unique("del-run"))
    keep = client.create_run(exp_id, start_time=T0, run_name="keep").info.run_id
    gone = client.create_run(exp_id, start_time=T0 + 1, run_name="gone").info.run_id
    client.delete_run(gone)

    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [keep]
    all_ids = {r.info.run_id for r in client.search_runs([exp_id], run_view_type=ViewType.ALL)}
    assert all_ids == {keep, gone}
    deleted_only = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted_only] == [gone]

    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert {r.info.run_id for r in client.search_runs([exp_id])} == {keep, gone}


def test_logging_to_deleted_run_is_rejected(client):
    run_id = client.create_run("0", start_time=T0).info.run_id
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as excinfo:
        client.log_metric(run_id, "m", 1.0, timestamp=T0)
    assert error_code_of(excinfo) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as excinfo2:
        client.log_param(run_id, "p", "v")
    assert error_code_of(excinfo2) == "INVALID_PARAMETER_VALUE"
    client.restore_run(run_id)
    assert client.get_run(run_id).data.metrics == {}


def test_delete_and_restore_experiment(client):
    name = unique("del-exp")
    exp_id = client.create_experiment(name)
    run_id = client.create_run(exp_id, start_time=T0).info.run_id
    client.delete_experiment(exp_id)

    exp = client.get_experiment(exp_id)
    assert exp.lifecycle_stage == "deleted"
    assert client.get_experiment_by_name(name).lifecycle_stage == "deleted"
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    active = client.search_experiments(filter_string=f"name = '{name}'")
    assert list(active) == []
    deleted = client.search_experiments(filter_string=f"name = '{name}'", view_type=ViewType.DELETED_ONLY)
    assert [e.experiment_id for e in deleted] == [exp_id]
    # A deleted experiment's name stays taken.
    with pytest.raises(MlflowException) as excinfo:
        client.create_experiment(name)
    assert error_code_of(excinfo) == "RESOURCE_ALREADY_EXISTS"

    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    assert [r.info.run_id for r in client.search_runs([exp_id])] == [run_id]


def test_set_experiment_on_deleted_experiment_fails(tracking_uri, client):
    name = unique("deleted-setexp")
    exp_id = client.create_experiment(name)
    client.delete_experiment(exp_id)
    with pytest.raises(MlflowException):
        mlflow.set_experiment(name)


def test_rename_experiment(client):
    old, new = unique("rename-old"), unique("rename-new")
    exp_id = client.create_experiment(old)
    client.rename_experiment(exp_id, new)
    assert client.get_experiment(exp_id).name == new
    assert client.get_experiment_by_name(new).experiment_id == exp_id
    assert client.get_experiment_by_name(old) is None
    taken = unique("rename-taken")
    client.create_experiment(taken)
    with pytest.raises(MlflowException) as excinfo:
        client.rename_experiment(exp_id, taken)
    # Any 400-class code will do (the real server leaks BAD_REQUEST from an IntegrityError); a 500
    # would make the client retry for minutes.
    assert error_code_of(excinfo) in ("RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE", "BAD_REQUEST")
    assert client.get_experiment(exp_id).name == new


def test_experiment_tags_set_overwrite(client):
    exp_id = client.create_experiment(unique("exp-tag"))
    client.set_experiment_tag(exp_id, "a", "1")
    client.set_experiment_tag(exp_id, "b", "2")
    client.set_experiment_tag(exp_id, "a", "3")
    assert {k: v for k, v in client.get_experiment(exp_id).tags.items() if not k.startswith("mlflow.")} == {
        "a": "3", "b": "2"}


@pytest.mark.requires_mlflow3  # MlflowClient.delete_experiment_tag is new in MLflow 3
def test_experiment_tags_set_overwrite_delete(client):
    exp_id = client.create_experiment(unique("exp-tag"))
    client.set_experiment_tag(exp_id, "a", "1")
    client.set_experiment_tag(exp_id, "b", "2")
    client.set_experiment_tag(exp_id, "a", "3")
    assert {k: v for k, v in client.get_experiment(exp_id).tags.items() if not k.startswith("mlflow.")} == {
        "a": "3", "b": "2"}
    client.delete_experiment_tag(exp_id, "a")
    tags = client.get_experiment(exp_id).tags
    assert "a" not in tags
    assert tags["b"] == "2"


# --------------------------------------------------------------------------------------------------
# search_runs
# --------------------------------------------------------------------------------------------------

CORPUS = [
    # name, start offset, metrics.x, params.lr, tags.team, final status
    ("alpha", 1000, 0.9, "0.01", "ml", "FINISHED"),
    ("beta", 2000, 0.3, "0.1", "ml", "FINISHED"),
    ("gamma", 3000, 0.7, "0.01", "data", "RUNNING"),
    ("delta", 4000, 0.6, "0.001", "ml", "FAILED"),
    ("epsilon", 5000, None, "0.1", None, "FINISHED"),
    ("zeta", 6000, 0.95, "0.01", "ml", "FINISHED"),  # deleted below
]


@pytest.fixture(scope="module")
def corpus(server):
    with tracking_token(server.admin_key):  # module scope: conftest's per-test token is not set yet
        return _make_corpus(server)


def _make_corpus(server):
    client = mlflow.MlflowClient(tracking_uri=server.url)
    exp_id = client.create_experiment(unique("search-corpus"))
    ids = {}
    for name, offset, x, lr, team, status in CORPUS:
        run = client.create_run(exp_id, start_time=T0 + offset, run_name=name)
        rid = run.info.run_id
        ids[name] = rid
        metrics = [Metric("x", x, T0 + offset, 0)] if x is not None else []
        tags = [RunTag("team", team)] if team else []
        client.log_batch(rid, metrics=metrics, params=[Param("lr", lr)], tags=tags)
        if status != "RUNNING":
            client.set_terminated(rid, status=status, end_time=T0 + offset + 500)
    client.delete_run(ids["zeta"])
    return exp_id, ids


FILTER_CASES = [
    ("metrics.x > 0.5", ["delta", "gamma", "alpha"]),
    ("metrics.x >= 0.6 AND metrics.x < 0.9", ["delta", "gamma"]),
    ("metrics.x = 0.3", ["beta"]),
    ("metrics.x != 0.3", ["delta", "gamma", "alpha"]),
    ("params.lr = '0.01'", ["gamma", "alpha"]),
    ("params.lr != '0.01'", ["epsilon", "delta", "beta"]),
    ("params.lr LIKE '0.0%'", ["delta", "gamma", "alpha"]),
    ("tags.team = 'ml'", ["delta", "beta", "alpha"]),
    ("tags.team ILIKE 'ML'", ["delta", "beta", "alpha"]),
    ("attributes.status = 'FINISHED'", ["epsilon", "beta", "alpha"]),
    ("attributes.status != 'FINISHED'", ["delta", "gamma"]),
    ("attributes.run_name LIKE 'al%'", ["alpha"]),
    ("run_name LIKE '%ta'", ["delta", "beta"]),
    ("attributes.run_name ILIKE '%A'", ["delta", "gamma", "beta", "alpha"]),
    ("tags.\"mlflow.runName\" = 'gamma'", ["gamma"]),
    ("tags.`mlflow.runName` = 'beta'", ["beta"]),
    ("attributes.start_time > %d" % (T0 + 3500), ["epsilon", "delta"]),
    ("metrics.x > 0.5 AND params.lr = '0.01' AND tags.team = 'ml'", ["alpha"]),
    ("metrics.x > 0.99", []),
]


@pytest.mark.parametrize("filter_string,expected", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_search_runs_filters(client, corpus, filter_string, expected):
    exp_id, _ = corpus
    runs = client.search_runs([exp_id], filter_string=filter_string)
    assert names_of(runs) == expected  # default order: start_time DESC


def test_search_runs_filter_run_id_in(client, corpus):
    exp_id, ids = corpus
    flt = f"attributes.run_id IN ('{ids['beta']}', '{ids['delta']}', '{ids['zeta']}')"
    assert names_of(client.search_runs([exp_id], filter_string=flt)) == ["delta", "beta"]
    assert names_of(client.search_runs([exp_id], filter_string=flt, run_view_type=ViewType.ALL)) == [
        "zeta", "delta", "beta"]


def test_search_runs_view_types(client, corpus):
    exp_id, _ = corpus
    assert names_of(client.search_runs([exp_id])) == ["epsilon", "delta", "gamma", "beta", "alpha"]
    assert names_of(client.search_runs([exp_id], run_view_type=ViewType.ALL)) == [
        "zeta", "epsilon", "delta", "gamma", "beta", "alpha"]
    assert names_of(client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)) == ["zeta"]
    assert names_of(client.search_runs([exp_id], "metrics.x > 0.5", run_view_type=ViewType.ALL)) == [
        "zeta", "delta", "gamma", "alpha"]


ORDER_CASES = [
    (["metrics.x DESC"], ["alpha", "gamma", "delta", "beta", "epsilon"]),
    (["metrics.x ASC"], ["beta", "delta", "gamma", "alpha", "epsilon"]),
    (["metrics.x"], ["beta", "delta", "gamma", "alpha", "epsilon"]),
    (["attributes.start_time ASC"], ["alpha", "beta", "gamma", "delta", "epsilon"]),
    (["start_time DESC"], ["epsilon", "delta", "gamma", "beta", "alpha"]),
    (["params.lr ASC", "attributes.start_time DESC"], ["delta", "gamma", "alpha", "epsilon", "beta"]),
    (["params.`lr` DESC", "start_time ASC"], ["beta", "epsilon", "alpha", "gamma", "delta"]),
    (["attributes.run_name ASC"], ["alpha", "beta", "delta", "epsilon", "gamma"]),
    (["tags.team DESC", "start_time ASC"], ["alpha", "beta", "delta", "gamma", "epsilon"]),
    (["attributes.end_time DESC"], ["epsilon", "delta", "beta", "alpha", "gamma"]),
]


@pytest.mark.parametrize("order_by,expected", ORDER_CASES, ids=[",".join(c[0]) for c in ORDER_CASES])
def test_search_runs_order_by(client, corpus, order_by, expected):
    exp_id, _ = corpus
    assert names_of(client.search_runs([exp_id], order_by=order_by)) == expected


def test_search_runs_paging_with_tokens(client, corpus):
    exp_id, _ = corpus
    pages = []
    token = None
    for _ in range(10):
        page = client.search_runs([exp_id], max_results=2, order_by=["start_time ASC"], page_token=token)
        pages.append(names_of(page))
        token = page.token
        if not token:
            break
    assert pages == [["alpha", "beta"], ["gamma", "delta"], ["epsilon"]]


def test_search_runs_paging_with_filter(client, corpus):
    exp_id, _ = corpus
    seen = []
    token = None
    for _ in range(10):
        page = client.search_runs([exp_id], "params.lr != '0.001'", max_results=2,
                                  order_by=["metrics.x DESC"], page_token=token)
        assert len(page) <= 2
        seen.extend(names_of(page))
        token = page.token
        if not token:
            break
    assert seen == ["alpha", "gamma", "beta", "epsilon"]


def test_search_runs_all_fit_on_one_page_has_no_token(client, corpus):
    exp_id, _ = corpus
    page = client.search_runs([exp_id], max_results=100)
    assert len(page) == 5
    assert not page.token


def test_search_runs_across_experiments(client, corpus):
    exp_id, _ = corpus
    other = client.create_experiment(unique("search-other"))
    client.create_run(other, start_time=T0 + 10_000, run_name="other-run")
    runs = client.search_runs([exp_id, other], order_by=["start_time DESC"])
    assert names_of(runs) == ["other-run", "epsilon", "delta", "gamma", "beta", "alpha"]


def test_search_runs_returns_full_run_data(client, corpus):
    exp_id, ids = corpus
    [run] = client.search_runs([exp_id], "attributes.run_name = 'delta'")
    assert run.info.run_id == ids["delta"]
    assert run.info.status == "FAILED"
    assert run.info.end_time == T0 + 4500
    assert run.data.metrics == {"x": 0.6}
    assert run.data.params == {"lr": "0.001"}
    assert run.data.tags["team"] == "ml"


def test_search_runs_invalid_filter_is_invalid_parameter_value(client, corpus):
    exp_id, _ = corpus
    for bad in ("metrics.x > 0.5 OR params.lr = '0.01'", "metrics.x LIKE 'a'", "nonsense ==== 3"):
        with pytest.raises(MlflowException) as excinfo:
            client.search_runs([exp_id], filter_string=bad)
        assert error_code_of(excinfo) == "INVALID_PARAMETER_VALUE", bad


def test_fluent_search_runs_pandas(tracking_uri, corpus):
    exp_id, ids = corpus
    df = mlflow.search_runs(experiment_ids=[exp_id], filter_string="params.lr = '0.01'",
                            order_by=["start_time ASC"])
    assert list(df["run_id"]) == [ids["alpha"], ids["gamma"]]
    assert list(df["tags.mlflow.runName"]) == ["alpha", "gamma"]
    assert list(df["params.lr"]) == ["0.01", "0.01"]
    assert list(df["metrics.x"]) == [0.9, 0.7]
    assert list(df["status"]) == ["FINISHED", "RUNNING"]
    as_list = mlflow.search_runs(experiment_ids=[exp_id], output_format="list")
    assert len(as_list) == 5


# --------------------------------------------------------------------------------------------------
# search_experiments
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exp_corpus(server):
    with tracking_token(server.admin_key):
        return _make_exp_corpus(server)


def _make_exp_corpus(server):
    client = mlflow.MlflowClient(tracking_uri=server.url)
    prefix = unique("sx")
    ids = {}
    for suffix in "abcde":
        ids[suffix] = client.create_experiment(f"{prefix}-{suffix}")
    client.set_experiment_tag(ids["b"], "owner", "me")
    client.set_experiment_tag(ids["d"], "owner", "you")
    client.delete_experiment(ids["e"])
    return prefix, ids


def exp_names(exps, prefix):
    return [e.name[len(prefix) + 1:] for e in exps]


def test_search_experiments_filter_and_order(client, exp_corpus):
    prefix, _ = exp_corpus
    like = f"name LIKE '{prefix}-%'"
    assert exp_names(client.search_experiments(filter_string=like, order_by=["name ASC"]), prefix) == list("abcd")
    assert exp_names(client.search_experiments(filter_string=like, order_by=["name DESC"]), prefix) == list("dcba")
    assert exp_names(client.search_experiments(filter_string=like, order_by=["experiment_id ASC"]), prefix) == list("abcd")
    # Default order: newest first.
    assert exp_names(client.search_experiments(filter_string=like), prefix) == list("dcba")
    assert exp_names(client.search_experiments(filter_string=f"name = '{prefix}-c'"), prefix) == ["c"]
    assert exp_names(client.search_experiments(filter_string=f"name ILIKE '{prefix.upper()}-A'"), prefix) == ["a"]
    tagged = client.search_experiments(filter_string=f"{like} AND tags.owner = 'me'")
    assert exp_names(tagged, prefix) == ["b"]
    owned = client.search_experiments(filter_string=f"{like} AND tags.owner LIKE '%'", order_by=["name ASC"])
    assert exp_names(owned, prefix) == ["b", "d"]


def test_search_experiments_view_type(client, exp_corpus):
    prefix, _ = exp_corpus
    like = f"name LIKE '{prefix}-%'"
    assert exp_names(client.search_experiments(view_type=ViewType.ALL, filter_string=like,
                                               order_by=["name ASC"]), prefix) == list("abcde")
    assert exp_names(client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=like), prefix) == ["e"]
    assert exp_names(client.search_experiments(view_type=ViewType.ACTIVE_ONLY, filter_string=like,
                                               order_by=["name ASC"]), prefix) == list("abcd")


def test_search_experiments_paging(client, exp_corpus):
    prefix, _ = exp_corpus
    pages, token = [], None
    for _ in range(10):
        page = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"],
                                         max_results=2, page_token=token, view_type=ViewType.ALL)
        pages.append(exp_names(page, prefix))
        token = page.token
        if not token:
            break
    assert pages == [["a", "b"], ["c", "d"], ["e"]]


def test_search_experiments_includes_default(client):
    names = [e.name for e in client.search_experiments(filter_string="name = 'Default'")]
    assert names == ["Default"]


# --------------------------------------------------------------------------------------------------
# Inputs (datasets)
# --------------------------------------------------------------------------------------------------


def test_log_input_dataset_and_search_by_dataset(tracking_uri, client):
    import pandas as pd

    exp = mlflow.set_experiment(unique("datasets"))
    df = pd.DataFrame({"feature": [1.0, 2.0, 3.0], "label": [0.0, 1.0, 0.0]})
    name = unique("train-ds")
    dataset = mlflow.data.from_pandas(df, source="s3://bucket/data.csv", name=name, targets="label")
    with mlflow.start_run(run_name="with-data") as run:
        mlflow.log_input(dataset, context="training")
    with mlflow.start_run(run_name="without-data"):
        pass

    got = client.get_run(run.info.run_id)
    [ds_input] = got.inputs.dataset_inputs
    assert ds_input.dataset.name == name
    assert ds_input.dataset.digest == dataset.digest
    assert ds_input.dataset.source_type == dataset.source._get_source_type()
    assert ds_input.dataset.schema  # the client sends the schema; it must come back
    assert {t.key: t.value for t in ds_input.tags}.get("mlflow.data.context") == "training"

    exp_ids = [exp.experiment_id]
    assert names_of(client.search_runs(exp_ids, f"dataset.name = '{name}'")) == ["with-data"]
    assert names_of(client.search_runs(exp_ids, "dataset.context = 'training'")) == ["with-data"]
    assert names_of(client.search_runs(exp_ids, f"dataset.digest = '{dataset.digest}'")) == ["with-data"]
    assert names_of(client.search_runs(exp_ids, "dataset.name = 'other'")) == []


def test_status_enum_round_trip(client):
    run = client.create_run("0", start_time=T0)
    assert run.info.status == RunStatus.to_string(RunStatus.RUNNING)
    assert run.info.lifecycle_stage == "active"
    assert run.info.start_time == T0


def test_dataset_logged_to_two_runs_is_found_from_both(tracking_uri, client):
    import pandas as pd

    exp = mlflow.set_experiment(unique("datasets-shared"))
    name = unique("shared-ds")
    dataset = mlflow.data.from_pandas(pd.DataFrame({"a": [1.0, 2.0]}), source="s3://bucket/shared.csv", name=name)
    for run_name, context in (("first", "training"), ("second", "eval")):
        with mlflow.start_run(run_name=run_name):
            mlflow.log_input(dataset, context=context)
    exp_ids = [exp.experiment_id]
    assert names_of(client.search_runs(exp_ids, f"dataset.name = '{name}'", order_by=["attributes.run_name ASC"])) == [
        "first", "second"]
    assert names_of(client.search_runs(exp_ids, "dataset.context = 'eval'")) == ["second"]
    [found] = client.search_runs(exp_ids, "dataset.context = 'training'")
    # search results carry the inputs too
    assert [d.dataset.name for d in found.inputs.dataset_inputs] == [name]


# --------------------------------------------------------------------------------------------------
# More client paths: env-selected experiment, nested runs, async logging, unicode, concurrency
# --------------------------------------------------------------------------------------------------


def test_experiment_name_from_environment(tracking_uri, client, monkeypatch):
    name = unique("env-exp")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    exp = client.get_experiment_by_name(name)
    assert exp is not None and exp.lifecycle_stage == "active"
    assert client.get_run(run.info.run_id).info.experiment_id == exp.experiment_id


def test_nested_runs(tracking_uri, client):
    exp = mlflow.set_experiment(unique("nested"))
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child-1", nested=True):
            mlflow.log_param("i", "1")
        with mlflow.start_run(run_name="child-2", nested=True):
            mlflow.log_param("i", "2")
    pid = parent.info.run_id
    children = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{pid}'",
                                  order_by=["attributes.run_name ASC"])
    assert names_of(children) == ["child-1", "child-2"]
    assert all(r.info.status == "FINISHED" for r in children)
    assert client.get_run(pid).info.status == "FINISHED"


def test_async_logging_flushes_everything(tracking_uri, client, monkeypatch):
    mlflow.set_experiment(unique("async"))
    with mlflow.start_run() as run:
        for step in range(50):
            mlflow.log_metric("a", float(step), step=step, synchronous=False)
        mlflow.log_param("p", "v", synchronous=False)
        mlflow.set_tag("t", "v", synchronous=False)
    rid = run.info.run_id
    got = client.get_run(rid)
    assert got.data.metrics == {"a": 49.0}
    assert got.data.params == {"p": "v"}
    assert got.data.tags["t"] == "v"
    assert [m.step for m in client.get_metric_history(rid, "a")] == list(range(50))


UNICODE_TEXT = "größe ✓ 東京 🚀 \"quoted\" back\\slash\ttab\nnewline"


def test_unicode_and_escapes_round_trip(client):
    name = unique("ünïcødé 実験 🚀")
    exp_id = client.create_experiment(name, tags={"desc": UNICODE_TEXT})
    assert client.get_experiment_by_name(name).experiment_id == exp_id
    assert client.get_experiment(exp_id).tags["desc"] == UNICODE_TEXT
    run = client.create_run(exp_id, start_time=T0, run_name="läuft 🏃")
    rid = run.info.run_id
    client.log_param(rid, "text", UNICODE_TEXT)
    client.set_tag(rid, "text", UNICODE_TEXT)
    client.log_metric(rid, "metric with spaces/and-slash", 1.0, timestamp=T0)
    got = client.get_run(rid)
    assert got.info.run_name == "läuft 🏃"
    assert got.data.params["text"] == UNICODE_TEXT
    assert got.data.tags["text"] == UNICODE_TEXT
    assert got.data.metrics == {"metric with spaces/and-slash": 1.0}
    assert len(client.get_metric_history(rid, "metric with spaces/and-slash")) == 1
    found = client.search_runs([exp_id], filter_string="attributes.run_name = 'läuft 🏃'")
    assert [r.info.run_id for r in found] == [rid]
    found = client.search_runs([exp_id], filter_string="metrics.`metric with spaces/and-slash` = 1")
    assert [r.info.run_id for r in found] == [rid]


def test_concurrent_logging_to_one_run_loses_nothing(client):
    run_id = client.create_run("0", start_time=T0).info.run_id
    threads, per_thread = 8, 40

    def work(t):
        for i in range(per_thread):
            client.log_metric(run_id, "shared", float(t * 1000 + i), timestamp=T0 + i, step=t * 1000 + i)
            if i % 10 == 0:
                client.log_batch(run_id, metrics=[Metric(f"own{t}", float(i), T0 + i, i)],
                                 params=[Param(f"p{t}-{i}", "x")])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    history = client.get_metric_history(run_id, "shared")
    assert sorted(m.step for m in history) == sorted(t * 1000 + i for t in range(threads) for i in range(per_thread))
    run = client.get_run(run_id)
    assert run.data.metrics["shared"] == float((threads - 1) * 1000 + per_thread - 1)
    assert len(run.data.params) == threads * (per_thread // 10)
    for t in range(threads):
        assert [m.step for m in client.get_metric_history(run_id, f"own{t}")] == [0, 10, 20, 30]


def test_concurrent_writes_with_refused_ones_among_them_keep_exactly_the_accepted(client):
    # Writes arriving together may share a commit (decision 0021); a refused one must take back
    # only its own writes. Each thread's refused writes sit between its accepted ones.
    live = client.create_run("0", start_time=T0).info.run_id
    gone = client.create_run("0", start_time=T0).info.run_id
    client.log_param(live, "fixed", "a")
    client.delete_run(gone)
    threads, per_thread = 8, 30
    refused = []

    def work(t):
        for i in range(per_thread):
            client.log_batch(live, metrics=[Metric("m", float(i), T0 + i, t * 1000 + i)],
                             params=[Param(f"p{t}-{i}", "v")], tags=[RunTag(f"t{t}", str(i))])
            for attempt in (
                lambda: client.log_batch(live, metrics=[Metric("m", -1.0, T0, -1 - t * 1000 - i)],
                                         params=[Param("fixed", f"changed-{t}-{i}")]),
                lambda: client.log_metric(gone, "m", 1.0, timestamp=T0, step=i),
                lambda: client.set_tag(gone, "k", "v"),
            ):
                with pytest.raises(MlflowException) as excinfo:
                    attempt()
                refused.append(error_code_of(excinfo))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    assert set(refused) == {"INVALID_PARAMETER_VALUE"}, set(refused)
    history = client.get_metric_history(live, "m")
    assert sorted(m.step for m in history) == sorted(t * 1000 + i for t in range(threads)
                                                     for i in range(per_thread))
    run = client.get_run(live)
    assert run.data.params["fixed"] == "a"
    assert len(run.data.params) == 1 + threads * per_thread
    for t in range(threads):
        assert run.data.tags[f"t{t}"] == str(per_thread - 1)
    assert client.get_metric_history(gone, "m") == []
    assert "k" not in client.get_run(gone).data.tags


def test_concurrent_create_of_the_same_experiment_name(server):
    name = unique("race")
    barrier = threading.Barrier(8)

    def attempt(_):
        c = mlflow.MlflowClient(tracking_uri=server.url)
        barrier.wait(timeout=30)
        try:
            return ("ok", c.create_experiment(name))
        except MlflowException as exc:
            return ("error", exc.error_code)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    oks = [r for r in results if r[0] == "ok"]
    assert len(oks) == 1, results
    assert sorted(r[1] for r in results if r[0] == "error") == ["RESOURCE_ALREADY_EXISTS"] * 7
    exp = mlflow.MlflowClient(tracking_uri=server.url).get_experiment_by_name(name)
    assert exp.experiment_id == oks[0][1]
