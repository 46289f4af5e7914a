"""The registry journey written the MLflow 2.x way (`log_model(..., artifact_path=...)`), run with every
client version.

With a 2.x client (venv mlflow-2.22) the model is written as run artifacts (`<run>/artifacts/model/...`)
and versions are registered from `runs:/` sources, which the server must resolve to the run's
artifact location. With a 3.x client the same calls create logged models instead (`artifact_path` is
the deprecated spelling of `name`); only the storage assertions differ.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import mlflow
import mlflow.sklearn
import numpy as np
import pytest
from mlflow import MlflowClient

from itest_helpers import SKLEARN_PIP_REQUIREMENTS, fluent_tracking, mlflow_major, predictions_of, unique


@pytest.fixture(scope="module")
def v2(server, models):
    """Version 1 = model a (log_model with registered_model_name), version 2 = model b (register_model
    from runs:/); alias champion -> 2, Production -> 1, Staging -> 2."""
    client = MlflowClient(tracking_uri=server.url)
    with fluent_tracking(server):
        name = unique("journey2")
        exp = mlflow.set_experiment(unique("registry-v2"))
        with mlflow.start_run() as run:
            mlflow.log_param("C", "1.0")
            info_a = mlflow.sklearn.log_model(models.a, artifact_path="model", registered_model_name=name,
                                              pip_requirements=SKLEARN_PIP_REQUIREMENTS)
            info_b = mlflow.sklearn.log_model(models.b, artifact_path="model_b",
                                              pip_requirements=SKLEARN_PIP_REQUIREMENTS)
        run_id = run.info.run_id
        mv2 = mlflow.register_model(f"runs:/{run_id}/model_b", name)
        client.set_registered_model_alias(name, "champion", "2")
        client.transition_model_version_stage(name, "1", "Production")
        client.transition_model_version_stage(name, "2", "Staging")
    return SimpleNamespace(name=name, exp_id=exp.experiment_id, run_id=run_id, info_a=info_a, info_b=info_b,
                           mv2=mv2)


def test_v2_versions_are_registered(v2, client):
    assert int(v2.info_a.registered_model_version) == 1
    assert v2.mv2.version == "2"
    run_root = f"mlflow-artifacts:/{v2.exp_id}/{v2.run_id}/artifacts"
    for version, path in (("1", "model"), ("2", "model_b")):
        mv = client.get_model_version(v2.name, version)
        assert mv.status == "READY"
        assert mv.run_id == v2.run_id
        uri = client.get_model_version_download_uri(v2.name, version)
        if mlflow_major() < 3:
            # The model lives in the run's artifacts; the source names it by run.
            assert mv.source in (f"runs:/{v2.run_id}/{path}", f"{run_root}/{path}"), mv.source
            assert uri in (f"runs:/{v2.run_id}/{path}", f"{run_root}/{path}"), uri
        else:
            assert mv.source.startswith("models:/m-"), mv.source
            assert uri.startswith(f"mlflow-artifacts:/{v2.exp_id}/models/m-"), uri
    assert client.get_model_version_by_alias(v2.name, "champion").version == "2"
    assert client.get_registered_model(v2.name).aliases == {"champion": "2"}
    assert sorted((v.version, v.current_stage) for v in client.get_registered_model(v2.name).latest_versions) == [
        ("1", "Production"), ("2", "Staging")]


def test_v2_model_files_are_where_the_client_put_them(v2, client):
    if mlflow_major() < 3:
        names = {os.path.basename(f.path) for f in client.list_artifacts(v2.run_id, "model")}
        assert "MLmodel" in names and names & {"model.pkl", "model.skops"}, names
    else:
        names = {f.path for f in client.list_logged_model_artifacts(v2.info_a.model_id)}
        assert "MLmodel" in names, names


URIS = [
    ("models:/{name}@champion", "b"),
    ("models:/{name}/1", "a"),
    ("models:/{name}/2", "b"),
    ("models:/{name}/Production", "a"),
    ("models:/{name}/Staging", "b"),
    ("models:/{name}/latest", "b"),
    ("runs:/{run}/model", "a"),
    ("runs:/{run}/model_b", "b"),
]


@pytest.mark.parametrize("template,which", URIS, ids=[t for t, _ in URIS])
def test_v2_load_model_by_uri(v2, models, tracking_uri, template, which):
    uri = template.format(name=v2.name, run=v2.run_id)
    expected = models.expected_a if which == "a" else models.expected_b
    np.testing.assert_array_equal(predictions_of(uri, models.X), expected)


def test_v2_download_model_version_artifacts(v2, models, tracking_uri, tmp_path):
    local = mlflow.artifacts.download_artifacts(f"models:/{v2.name}/1", dst_path=str(tmp_path))
    assert "MLmodel" in os.listdir(local)
    model = mlflow.sklearn.load_model(f"models:/{v2.name}@champion")  # the sklearn flavor, not pyfunc
    np.testing.assert_array_equal(model.predict(models.X), models.expected_b)
