"""runs/search ordered by a metric over more runs than the store's threshold (2,000) for walking
the metric's values in index order (decision 0017), with the stock client: every page must be the
one MLflow's ordering gives — numbers first, then NaN, then runs without the metric; ties by start
time (newest first), then run id. Also runs under --target=mlflow, which checks the expectation
itself against the real server."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow.entities import Metric, Param

from itest_helpers import tracking_token, unique

pytestmark = pytest.mark.native_only  # the gateway leg would only repeat the mlflow leg, slowly

T0 = 1_700_000_000_000
RUNS = 2050  # above the store's 2,000-run threshold


def _value(i: int) -> float | None:
    if i % 4 == 3:
        return None  # no value for m
    if i % 9 == 0:
        return math.nan
    return ((i * 7919) % 101) / 10.0  # many ties


@pytest.fixture(scope="module")
def seeded(server):
    with tracking_token(server.admin_key):  # module scope: conftest's per-test token is not set yet
        return _seed(server)


def _seed(server):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=server.url)
    exp = client.create_experiment(unique("search-scale"))

    def one(i: int):
        run = client.create_run(exp, start_time=T0 + i % 13, run_name=f"s{i}")
        value = _value(i)
        metrics = [] if value is None else [Metric("m", value, T0, 0)]
        client.log_batch(run.info.run_id, metrics=metrics,
                         params=[Param("p", "a" if i % 2 == 0 else "b")])
        return {"id": run.info.run_id, "start": T0 + i % 13, "m": value, "p": "a" if i % 2 == 0 else "b"}

    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(one, range(RUNS)))
    return client, exp, runs


def _expected(runs, ascending: bool, p: str | None):
    def key(r):
        v = r["m"]
        cls = 2 if v is None else 1 if math.isnan(v) else 0
        number = 0.0 if cls else (v if ascending else -v)
        return (cls, number, -r["start"], r["id"])

    chosen = [r for r in runs if p is None or r["p"] == p]
    return [r["id"] for r in sorted(chosen, key=key)]


def _all_pages(client, exp, order: str, flt: str, size: int):
    ids, token, pages = [], None, 0
    while True:
        page = client.search_runs([exp], filter_string=flt, order_by=[order], max_results=size,
                                  page_token=token)
        ids += [r.info.run_id for r in page]
        pages += 1
        token = page.token
        if not token:
            return ids, pages


@pytest.mark.parametrize("ascending", [False, True], ids=["desc", "asc"])
def test_search_ordered_by_a_metric_pages_in_mlflow_order(seeded, ascending):
    client, exp, runs = seeded
    order = "metrics.m " + ("ASC" if ascending else "DESC")
    ids, pages = _all_pages(client, exp, order, "params.p = 'a'", 400)
    assert pages >= 3
    assert ids == _expected(runs, ascending, "a")


def test_search_ordered_by_a_metric_with_a_metric_filter(seeded):
    client, exp, runs = seeded
    page = client.search_runs([exp], filter_string="metrics.m > 5", order_by=["metrics.m DESC"],
                              max_results=100)
    expected = _expected(runs, False, None)
    above = {r["id"] for r in runs if r["m"] is not None and not math.isnan(r["m"]) and r["m"] > 5}
    assert [r.info.run_id for r in page] == [i for i in expected if i in above][:100]
    assert page.token


def test_search_ordered_by_a_metric_past_the_numbers(seeded):
    """Pages past all the numbers: one crossing from NaN runs into runs without the metric (the
    store skips whole classes by counting them)."""
    client, exp, runs = seeded
    expected = _expected(runs, False, None)
    numbers = sum(1 for r in runs if r["m"] is not None and not math.isnan(r["m"]))
    nans = sum(1 for r in runs if r["m"] is not None and math.isnan(r["m"]))
    size = 100
    start = (numbers + nans) // size * size
    assert numbers < start < numbers + nans, "the page must start among the NaN runs"
    ids, token, seen = [], None, 0
    while seen <= start:  # the stock client pages with tokens only
        page = client.search_runs([exp], order_by=["metrics.m DESC"], max_results=size, page_token=token)
        ids = [r.info.run_id for r in page]
        token = page.token
        seen += size
    assert ids == expected[start:start + size]
