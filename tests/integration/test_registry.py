"""Model registry with the stock client: logging scikit-learn models, registering them, aliases,
stages, searches, loading by every models:/ URI form, and rename/delete consistency.

Shared by both targets. Tests needing MLflow-3-only client APIs are marked requires_mlflow3; the
rest use the client's own spelling (`log_sklearn_model` passes `name=` on 3.x, `artifact_path=` on 2.x).
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from itest_helpers import (
    fluent_tracking,
    log_sklearn_model,
    mlflow_major,
    predictions_of,
    unique,
)

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def code_of(excinfo) -> str:
    return excinfo.value.error_code


def source_run(api) -> SimpleNamespace:
    """A run with a minimal model directory of its own, usable as a model-version source."""
    exp_id = api.create_experiment()
    run_id = api.ok(api.post("/runs/create", {"experiment_id": exp_id}))["run"]["info"]["run_id"]
    r = api.session.put(f"{api.base_url}{ARTIFACTS}/{exp_id}/{run_id}/artifacts/model/MLmodel",
                        data=b"flavors: {}\n", timeout=30)  # the session carries api's key
    assert r.status_code == 200, r.text
    return SimpleNamespace(exp_id=exp_id, run_id=run_id, source=f"runs:/{run_id}/model")


@pytest.fixture
def src(api):
    return source_run(api)


def make_model(client, src, n_versions: int, name: str | None = None, **create_kwargs) -> str:
    name = name or unique("rm")
    client.create_registered_model(name, **create_kwargs)
    for i in range(n_versions):
        mv = client.create_model_version(name, src.source, run_id=src.run_id)
        assert mv.version == str(i + 1)
        assert mv.status == "READY"
        assert mv.current_stage == "None"
    return name


# --------------------------------------------------------------------------------------------------
# MLflow 3: log_model(name=..., registered_model_name=...) and loading by every URI form (6(c), 6(f))
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v3(server, models):
    """Two logged models registered as versions 1 (model a) and 2 (model b) of one registered model;
    alias champion -> 1, stage Production -> 1, Staging -> 2."""
    if mlflow_major() < 3:
        pytest.fail("v3 fixture used by a test not marked requires_mlflow3")
    client = MlflowClient(tracking_uri=server.url)
    with fluent_tracking(server):
        name = unique("journey3")
        exp = mlflow.set_experiment(unique("registry-v3"))
        with mlflow.start_run() as run_a:
            mlflow.log_param("C", "1.0")
            mlflow.log_metric("acc", 0.97)
            info_a = log_sklearn_model(models.a, "model", registered_model_name=name)
        with mlflow.start_run() as run_b:
            info_b = log_sklearn_model(models.b, "model", registered_model_name=name)  # already exists
        client.set_registered_model_alias(name, "champion", "1")
        client.transition_model_version_stage(name, "1", "Production")
        client.transition_model_version_stage(name, "2", "Staging")
    return SimpleNamespace(name=name, exp_id=exp.experiment_id, run_a=run_a.info.run_id,
                           run_b=run_b.info.run_id, info_a=info_a, info_b=info_b)


@pytest.mark.requires_mlflow3
def test_v3_log_model_registers_a_version_of_the_logged_model(v3, client):
    assert int(v3.info_a.registered_model_version) == 1
    assert int(v3.info_b.registered_model_version) == 2
    model_id = v3.info_a.model_id
    assert model_id.startswith("m-")

    mv = client.get_model_version(v3.name, "1")
    assert mv.status == "READY"
    assert mv.current_stage == "Production"
    assert mv.run_id == v3.run_a
    assert mv.source == f"models:/{model_id}"
    assert mv.model_id in (None, model_id)  # the real server (3.10) does not echo model_id back
    assert mv.aliases == ["champion"]

    logged = client.get_logged_model(model_id)
    assert str(logged.status) in ("READY", "LoggedModelStatus.READY")
    assert logged.source_run_id == v3.run_a
    assert logged.experiment_id == v3.exp_id
    assert logged.artifact_location == f"mlflow-artifacts:/{v3.exp_id}/models/{model_id}/artifacts"
    registrations = json.loads(logged.tags["mlflow.modelVersions"])
    assert {"name": v3.name, "version": "1"} in registrations or {"name": v3.name, "version": 1} in registrations
    assert logged.params.get("C") == "1.0"

    # get-download-uri resolves the models:/<model_id> source to the logged model's artifacts.
    assert client.get_model_version_download_uri(v3.name, "1") == logged.artifact_location

    names = {f.path for f in client.list_logged_model_artifacts(model_id)}
    assert "MLmodel" in names and names & {"model.pkl", "model.skops"}, names  # skops from 3.1x on
    outputs = client.get_run(v3.run_a).outputs
    assert model_id in [o.model_id for o in outputs.model_outputs]


V3_URIS = [
    ("models:/{name}@champion", "a"),
    ("models:/{name}/1", "a"),
    ("models:/{name}/2", "b"),
    ("models:/{name}/Production", "a"),
    ("models:/{name}/production", "a"),
    ("models:/{name}/Staging", "b"),
    ("models:/{name}/latest", "b"),
    ("models:/{model_a}", "a"),
    ("models:/{model_b}", "b"),
    ("runs:/{run_a}/model", "a"),
]


@pytest.mark.requires_mlflow3
@pytest.mark.parametrize("template,which", V3_URIS, ids=[t for t, _ in V3_URIS])
def test_v3_load_model_by_uri_predicts_like_the_trained_model(v3, models, tracking_uri, template, which):
    uri = template.format(name=v3.name, model_a=v3.info_a.model_id, model_b=v3.info_b.model_id, run_a=v3.run_a)
    expected = models.expected_a if which == "a" else models.expected_b
    np.testing.assert_array_equal(predictions_of(uri, models.X), expected)


@pytest.mark.requires_mlflow3
def test_v3_register_model_from_runs_uri_finds_the_logged_model(tracking_uri, client, models):
    name = unique("from-run3")
    mlflow.set_experiment(unique("reg-from-run3"))
    with mlflow.start_run() as run:
        info = log_sklearn_model(models.b, "model")
    assert info.registered_model_version is None
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert mv.version == "1"
    assert mv.source == f"models:/{info.model_id}"
    assert mv.run_id == run.info.run_id
    tags = client.get_logged_model(info.model_id).tags
    assert {"name": name, "version": "1"} in json.loads(tags["mlflow.modelVersions"])
    mv2 = mlflow.register_model(info.model_uri, name)  # models:/m-<id>
    assert mv2.version == "2"
    np.testing.assert_array_equal(predictions_of(f"models:/{name}/2", models.X), models.expected_b)


# --------------------------------------------------------------------------------------------------
# Any client: register_model("runs:/...") and models stored as run artifacts
# --------------------------------------------------------------------------------------------------


def test_register_model_from_runs_uri_twice(tracking_uri, client, models):
    name = unique("from-run")
    mlflow.set_experiment(unique("reg-from-run"))
    with mlflow.start_run() as run:
        log_sklearn_model(models.a, "model")
    run_id = run.info.run_id
    mv1 = mlflow.register_model(f"runs:/{run_id}/model", name)
    mv2 = mlflow.register_model(f"runs:/{run_id}/model", name)  # RESOURCE_ALREADY_EXISTS tolerated
    assert (mv1.version, mv2.version) == ("1", "2")
    for mv in (mv1, mv2):
        assert mv.status == "READY"
        assert mv.run_id == run_id
        assert mv.name == name
    rm = client.get_registered_model(name)
    assert [(v.version, v.current_stage) for v in rm.latest_versions] == [("2", "None")]
    np.testing.assert_array_equal(predictions_of(f"models:/{name}/1", models.X), models.expected_a)
    np.testing.assert_array_equal(predictions_of(f"models:/{name}/latest", models.X), models.expected_a)


def test_model_saved_as_run_artifacts_registers_by_runs_and_mlflow_artifacts_source(
        tracking_uri, client, models, tmp_path):
    """The MLflow-2 layout: the model directory is a plain run artifact; versions point at it by
    `runs:/<run>/model` or by its `mlflow-artifacts:` URI."""
    import mlflow.sklearn

    local = tmp_path / "saved"
    mlflow.sklearn.save_model(models.b, str(local), pip_requirements=["scikit-learn"])
    exp = mlflow.set_experiment(unique("run-artifact-model"))
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(local), "model")
    run_id = run.info.run_id
    assert "model/MLmodel" in [f.path for f in client.list_artifacts(run_id, "model")]

    name = unique("runs-source")
    client.create_registered_model(name)
    artifact_source = f"mlflow-artifacts:/{exp.experiment_id}/{run_id}/artifacts/model"
    mv1 = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    mv2 = client.create_model_version(name, artifact_source, run_id=run_id)
    assert (mv1.version, mv2.version) == ("1", "2")
    assert mv1.source == f"runs:/{run_id}/model"
    assert mv2.source == artifact_source
    assert client.get_model_version_download_uri(name, "1") in (f"runs:/{run_id}/model", artifact_source)
    assert client.get_model_version_download_uri(name, "2") == artifact_source
    for version in ("1", "2"):
        np.testing.assert_array_equal(predictions_of(f"models:/{name}/{version}", models.X), models.expected_b)
    files = os.listdir(mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path / "dl")))
    assert "MLmodel" in files


# --------------------------------------------------------------------------------------------------
# Aliases and stages (6(e))
# --------------------------------------------------------------------------------------------------


def test_aliases_set_get_move_delete(client, src):
    name = make_model(client, src, 3)
    client.set_registered_model_alias(name, "champion", 1)  # int: the client sends "1"
    client.set_registered_model_alias(name, "challenger", "2")
    client.set_registered_model_alias(name, "prod", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_registered_model(name).aliases == {"champion": "1", "challenger": "2", "prod": "1"}
    assert sorted(client.get_model_version(name, "1").aliases) == ["champion", "prod"]

    client.set_registered_model_alias(name, "champion", "3")  # moves
    got = client.get_model_version_by_alias(name, "champion")
    assert (got.name, got.version) == (name, "3")
    assert got.aliases == ["champion"]
    assert client.get_model_version(name, "1").aliases == ["prod"]

    client.delete_registered_model_alias(name, "challenger")
    with pytest.raises(MlflowException) as e:
        client.get_model_version_by_alias(name, "challenger")
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model(name).aliases == {"champion": "3", "prod": "1"}
    assert client.get_model_version(name, "2").aliases == []


@pytest.mark.parametrize("alias", ["v1", "V12", "latest", "a/b", "has space", "x" * 256])
def test_invalid_alias_names_are_rejected(client, src, alias):
    name = make_model(client, src, 1)
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_alias(name, alias, "1")
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model(name).aliases == {}


def test_alias_to_missing_version_or_model_is_refused(client, src):
    name = make_model(client, src, 1)
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_alias(name, "champion", "7")
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_alias(unique("no-model"), "champion", "1")
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(name).aliases == {}


def test_stage_transitions_with_archive_existing_versions(client, src):
    name = make_model(client, src, 4)
    v1 = client.transition_model_version_stage(name, "1", "Production")
    assert (v1.version, v1.current_stage) == ("1", "Production")
    before = client.get_model_version(name, "1").last_updated_timestamp
    v2 = client.transition_model_version_stage(name, "2", "production", archive_existing_versions=True)
    assert v2.current_stage == "Production"  # canonicalised
    archived = client.get_model_version(name, "1")
    assert archived.current_stage == "Archived"
    assert archived.last_updated_timestamp >= before
    client.transition_model_version_stage(name, "3", "Staging")
    # archive_existing_versions only touches versions in the *target* stage.
    client.transition_model_version_stage(name, "4", "Staging", archive_existing_versions=False)
    assert client.get_model_version(name, "3").current_stage == "Staging"

    def latest(stages):
        return sorted((v.version, v.current_stage) for v in client.get_latest_versions(name, stages))

    assert latest(["Production"]) == [("2", "Production")]
    assert latest(["Staging"]) == [("4", "Staging")]
    assert latest(["Archived"]) == [("1", "Archived")]
    assert latest(["Production", "Archived"]) == [("1", "Archived"), ("2", "Production")]
    assert latest(None) == [("1", "Archived"), ("2", "Production"), ("4", "Staging")]
    assert sorted((v.version, v.current_stage) for v in client.get_registered_model(name).latest_versions) == [
        ("1", "Archived"), ("2", "Production"), ("4", "Staging")]

    client.transition_model_version_stage(name, "3", "Production", archive_existing_versions=True)
    assert [client.get_model_version(name, v).current_stage for v in "1234"] == [
        "Archived", "Archived", "Production", "Staging"]
    client.transition_model_version_stage(name, "3", "None")
    assert client.get_model_version(name, "3").current_stage == "None"


def test_invalid_stage_transitions_are_rejected(client, src):
    name = make_model(client, src, 2)
    client.transition_model_version_stage(name, "1", "Production")
    with pytest.raises(MlflowException) as e:
        client.transition_model_version_stage(name, "2", "Prod")
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.transition_model_version_stage(name, "9", "Staging")
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    assert [client.get_model_version(name, v).current_stage for v in "12"] == ["Production", "None"]


@pytest.mark.hokusai_only
@pytest.mark.native_only  # our validation; through the gateway the real server answers (500)
def test_archive_existing_versions_into_archived_is_400(client, src):
    # Spec 3.9: only allowed for Staging/Production. The real server fails the same request with a
    # 500 INTERNAL_ERROR (which the client retries); a validation error must be a 400.
    name = make_model(client, src, 2)
    client.transition_model_version_stage(name, "1", "Production")
    with pytest.raises(MlflowException) as e:
        client.transition_model_version_stage(name, "2", "Archived", archive_existing_versions=True)
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    assert [client.get_model_version(name, v).current_stage for v in "12"] == ["Production", "None"]


# --------------------------------------------------------------------------------------------------
# Searches
# --------------------------------------------------------------------------------------------------


def test_search_registered_models_filters_order_and_paging(client, src):
    prefix = unique("srch")
    names = [f"{prefix}-{c}" for c in "abcde"]
    team = {"a": "ml", "b": "data", "c": "ml", "d": None, "e": "ml"}
    for n in names:
        tags = {"team": team[n[-1]]} if team[n[-1]] else None
        client.create_registered_model(n, tags=tags, description=f"model {n[-1]}")
    client.create_model_version(names[0], src.source, run_id=src.run_id)

    def search(filter_string, **kw):
        return [m.name for m in client.search_registered_models(filter_string=filter_string, **kw)]

    assert search(f"name LIKE '{prefix}-%'") == names
    assert search(f"name = '{prefix}-c'") == [names[2]]
    assert search(f"name ILIKE '{prefix.upper()}-B%'") == [names[1]]
    assert search(f"name != '{prefix}-c' AND name LIKE '{prefix}%'") == [names[0], names[1], names[3], names[4]]
    assert search(f"name LIKE '{prefix}%' AND tags.team = 'ml'") == [names[0], names[2], names[4]]
    assert search(f"name LIKE '{prefix}%' AND tags.`team` = 'data'") == [names[1]]
    assert search(f"name LIKE '{prefix}%' AND tags.team LIKE 'd%'") == [names[1]]
    assert search(f"name LIKE '{prefix}%'", order_by=["name DESC"]) == names[::-1]
    assert search(f"name = '{unique('nothing')}'") == []

    found = client.search_registered_models(filter_string=f"name = '{names[0]}'")
    assert [v.version for v in found[0].latest_versions] == ["1"]
    assert found[0].tags == {"team": "ml"}
    assert found[0].description == "model a"

    # Paging: tokens carry the position; together the pages are the full ordered result.
    seen, token = [], None
    for _ in range(10):
        page = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=2,
                                               page_token=token)
        assert len(page) <= 2
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == names


def test_search_registered_models_with_the_prompt_clause_finds_untagged_models(client, api):
    # The 3.x client appends `tags.`mlflow.prompt.is_prompt` != 'true'` to every model search; models
    # without that tag must match (spec 4.4). Sent raw here so every client version checks it.
    prefix = unique("neq")
    client.create_registered_model(f"{prefix}-tagged", tags={"team": "ml"})
    client.create_registered_model(f"{prefix}-other", tags={"team": "data"})
    client.create_registered_model(f"{prefix}-untagged")
    all_three = [f"{prefix}-other", f"{prefix}-tagged", f"{prefix}-untagged"]
    body = api.ok(api.get("/registered-models/search", {
        "filter": f"name LIKE '{prefix}%' AND tags.`mlflow.prompt.is_prompt` != 'true'"}))
    assert sorted(m["name"] for m in body["registered_models"]) == all_three
    assert [m.name for m in client.search_registered_models(f"name LIKE '{prefix}%'")] == all_three
    # An ordinary tag inequality: the real server matches only models that have the tag.
    got = [m.name for m in client.search_registered_models(f"name LIKE '{prefix}%' AND tags.team != 'ml'")]
    assert f"{prefix}-other" in got and f"{prefix}-tagged" not in got


def test_search_model_versions_filters(client, api):
    r1, r2 = source_run(api), source_run(api)
    prefix = unique("mvs")
    m1, m2 = f"{prefix}-one", f"{prefix}-two"
    for n in (m1, m2):
        client.create_registered_model(n)
    client.create_model_version(m1, r1.source, run_id=r1.run_id, tags={"kind": "base"})
    client.create_model_version(m1, r1.source, run_id=r1.run_id)
    client.create_model_version(m1, r2.source, run_id=r2.run_id, tags={"kind": "tuned"})
    client.create_model_version(m2, r1.source, run_id=r1.run_id, tags={"kind": "tuned"})

    def search(filter_string, **kw):
        return sorted((v.name, v.version) for v in client.search_model_versions(filter_string, **kw))

    assert search(f"name = '{m1}'") == [(m1, "1"), (m1, "2"), (m1, "3")]
    assert search(f"name LIKE '{prefix}-%'") == [(m1, "1"), (m1, "2"), (m1, "3"), (m2, "1")]
    assert search(f"run_id = '{r2.run_id}'") == [(m1, "3")]
    assert search(f"run_id = '{r1.run_id}'") == [(m1, "1"), (m1, "2"), (m2, "1")]
    assert search(f"name = '{m1}' AND run_id = '{r1.run_id}'") == [(m1, "1"), (m1, "2")]
    assert search(f"run_id IN ('{r2.run_id}', '{unique('x')}')") == [(m1, "3")]
    assert search(f"name LIKE '{prefix}%' AND tags.kind = 'tuned'") == [(m1, "3"), (m2, "1")]
    assert search(f"name = '{m1}' AND tags.kind = 'base'") == [(m1, "1")]
    assert search(f"name = '{unique('none')}'") == []
    got = client.search_model_versions(f"name = '{m1}' AND tags.kind = 'tuned'")
    assert got[0].tags == {"kind": "tuned"}
    assert got[0].run_id == r2.run_id
    assert got[0].source == r2.source

    # Deleted versions are never returned.
    client.delete_model_version(m1, "2")
    assert search(f"name = '{m1}'") == [(m1, "1"), (m1, "3")]


def test_search_model_versions_ordering_and_paging(client, src):
    name = make_model(client, src, 5)
    ordered = [v.version for v in client.search_model_versions(f"name = '{name}'",
                                                               order_by=["version_number DESC"])]
    assert ordered == ["5", "4", "3", "2", "1"]
    seen, token = [], None
    for _ in range(10):
        page = client.search_model_versions(f"name = '{name}'", max_results=2, page_token=token,
                                            order_by=["version_number ASC"])
        seen += [v.version for v in page]
        token = page.token
        if not token:
            break
    assert seen == ["1", "2", "3", "4", "5"]


# --------------------------------------------------------------------------------------------------
# Tags, descriptions, errors
# --------------------------------------------------------------------------------------------------


def test_tags_and_descriptions_on_models_and_versions(client, src):
    name = make_model(client, src, 2, tags={"a": "1"}, description="first")
    client.set_registered_model_tag(name, "b", "2")
    client.set_registered_model_tag(name, "a", "one")  # overwrite
    client.delete_registered_model_tag(name, "b")
    client.update_registered_model(name, description="second")
    rm = client.get_registered_model(name)
    assert rm.tags == {"a": "one"}
    assert rm.description == "second"

    client.set_model_version_tag(name, "1", "k", "v")
    client.set_model_version_tag(name, "1", "k2", "v2")
    client.delete_model_version_tag(name, "1", "k2")
    client.update_model_version(name, "1", description="v1 desc")
    mv = client.get_model_version(name, "1")
    assert mv.tags == {"k": "v"}
    assert mv.description == "v1 desc"
    assert client.get_model_version(name, "2").tags == {}


def test_registry_errors(client, api, src):
    name = make_model(client, src, 1)
    with pytest.raises(MlflowException) as e:
        client.create_registered_model(name)
    assert code_of(e) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:
        client.create_model_version(unique("missing"), src.source, run_id=src.run_id)
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "42")
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(unique("missing"))
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    r = api.post("/registered-models/create", {"name": name})
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    r = api.get("/registered-models/get", {"name": unique("missing")})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = api.get("/registered-models/alias", {"name": name, "alias": "nope"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


# --------------------------------------------------------------------------------------------------
# Rename and delete keep versions, aliases and tags consistent
# --------------------------------------------------------------------------------------------------


def test_rename_moves_versions_aliases_and_tags(client, api, src):
    old = unique("old-name")
    new = unique("new-name")
    make_model(client, src, 2, name=old, tags={"owner": "alice"}, description="d")
    client.set_model_version_tag(old, "1", "kind", "base")
    client.set_registered_model_alias(old, "champion", "2")
    client.set_registered_model_alias(old, "legacy", "1")
    client.transition_model_version_stage(old, "1", "Staging")

    client.rename_registered_model(old, new)

    rm = client.get_registered_model(new)
    assert rm.name == new
    assert rm.tags == {"owner": "alice"}
    assert rm.description == "d"
    assert rm.aliases == {"champion": "2", "legacy": "1"}
    assert sorted((v.name, v.version) for v in rm.latest_versions) == [(new, "1"), (new, "2")]
    v1 = client.get_model_version(new, "1")
    assert (v1.name, v1.current_stage, v1.tags, v1.aliases) == (new, "Staging", {"kind": "base"}, ["legacy"])
    champ = client.get_model_version_by_alias(new, "champion")
    assert (champ.name, champ.version) == (new, "2")
    assert client.get_model_version_download_uri(new, "2")
    assert sorted(v.version for v in client.search_model_versions(f"name = '{new}'")) == ["1", "2"]
    assert [m.name for m in client.search_registered_models(f"name = '{new}'")] == [new]

    # The old name is gone everywhere.
    for call in (lambda: client.get_registered_model(old), lambda: client.get_model_version(old, "1")):
        with pytest.raises(MlflowException) as e:
            call()
        assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    r = api.get("/registered-models/get", {"name": old})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(old, "champion")
    assert client.search_model_versions(f"name = '{old}'") == []
    assert client.search_registered_models(f"name = '{old}'") == []

    # Numbering continues under the new name; the old name can be reused from scratch.
    assert client.create_model_version(new, src.source, run_id=src.run_id).version == "3"
    client.create_registered_model(old)
    assert client.create_model_version(old, src.source, run_id=src.run_id).version == "1"
    assert client.get_registered_model(old).aliases == {}
    assert client.get_registered_model(old).tags == {}
    assert sorted(v.version for v in client.search_model_versions(f"name = '{new}'")) == ["1", "2", "3"]


def test_rename_conflicts(client, src):
    a = make_model(client, src, 1)
    b = make_model(client, src, 1)
    with pytest.raises(MlflowException) as e:
        client.rename_registered_model(a, b)
    assert code_of(e) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:
        client.rename_registered_model(unique("missing"), unique("target"))
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_model_version(a, "1").name == a
    assert client.get_model_version(b, "1").name == b


def test_delete_registered_model_removes_everything_and_numbering_restarts(client, api, src):
    name = make_model(client, src, 3, tags={"t": "1"})
    client.set_registered_model_alias(name, "champion", "3")
    client.set_model_version_tag(name, "1", "k", "v")
    client.transition_model_version_stage(name, "2", "Production")
    client.delete_registered_model(name)

    with pytest.raises(MlflowException) as e:
        client.get_registered_model(name)
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    for v in "123":
        with pytest.raises(MlflowException) as e:
            client.get_model_version(name, v)
        assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(name, "champion")
    assert client.search_model_versions(f"name = '{name}'") == []
    assert client.search_registered_models(f"name = '{name}'") == []
    r = api.session.delete(api.url("/registered-models/delete"), json={"name": name}, timeout=30)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    # Same name again: a new model, numbering from 1 (MLflow does the same), nothing carried over.
    client.create_registered_model(name)
    rm = client.get_registered_model(name)
    assert (rm.tags, rm.aliases, rm.latest_versions) == ({}, {}, [])
    mv = client.create_model_version(name, src.source, run_id=src.run_id)
    assert mv.version == "1"
    got = client.get_model_version(name, "1")
    assert (got.tags, got.aliases, got.current_stage) == ({}, [], "None")
    with pytest.raises(MlflowException) as e:
        client.get_model_version_by_alias(name, "champion")
    assert code_of(e) == "INVALID_PARAMETER_VALUE"


@pytest.mark.hokusai_only
@pytest.mark.native_only  # our store; through the gateway the real server keeps dangling aliases
def test_delete_version_removes_its_aliases(client, src):
    # Spec 5.4: deleting a version deletes its aliases. (The real server's SQL store compares the
    # integer alias version with the string it was given and keeps the aliases, dangling.)
    name = make_model(client, src, 3)
    client.set_registered_model_alias(name, "a", "2")
    client.set_registered_model_alias(name, "b", "2")
    client.set_registered_model_alias(name, "c", "3")
    client.delete_model_version(name, "2")
    assert client.get_registered_model(name).aliases == {"c": "3"}
    for alias in ("a", "b"):
        with pytest.raises(MlflowException) as e:
            client.get_model_version_by_alias(name, alias)
        assert code_of(e) == "INVALID_PARAMETER_VALUE"
    assert client.get_model_version_by_alias(name, "c").version == "3"
    assert client.get_model_version(name, "3").aliases == ["c"]
    # A new version does not inherit them.
    assert client.create_model_version(name, src.source, run_id=src.run_id).version == "4"
    assert client.get_model_version(name, "4").aliases == []
    assert client.get_registered_model(name).aliases == {"c": "3"}


def test_deleted_version_number_is_never_reused(client, api, src):
    name = make_model(client, src, 3)
    client.transition_model_version_stage(name, "2", "Production")
    client.delete_model_version(name, "2")

    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "2")
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    rm = client.get_registered_model(name)
    assert sorted(v.version for v in rm.latest_versions) == ["3"]
    assert client.get_latest_versions(name, ["Production"]) == []
    assert sorted(v.version for v in client.search_model_versions(f"name = '{name}'")) == ["1", "3"]
    r = api.session.delete(api.url("/model-versions/delete"), json={"name": name, "version": "2"}, timeout=30)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    assert client.create_model_version(name, src.source, run_id=src.run_id).version == "4"
    client.delete_model_version(name, "4")  # the highest number, deleted
    assert client.create_model_version(name, src.source, run_id=src.run_id).version == "5"
    for v in ("1", "3", "5"):
        client.delete_model_version(name, v)
    assert client.search_model_versions(f"name = '{name}'") == []
    assert client.get_registered_model(name).latest_versions == []
    assert client.create_model_version(name, src.source, run_id=src.run_id).version == "6"
