"""The `hokusai` console script: argument parsing and output, in process (mock mode and the HTTP
double). The installed script itself is run against the real server in test_integration.py."""

from __future__ import annotations

import json
from typing import List

import pytest

from hokusai import cli
from sdk_helpers import FAKE_KEY, HttpDouble, Reply, version_body, whoami_body


def run(argv: List[str], capsys: pytest.CaptureFixture[str]) -> "tuple[int, str, str]":
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mock_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_MOCK_MODE", "true")


def parse(argv: List[str]) -> "object":
    return cli.build_parser().parse_args(argv)


def test_register_arguments_are_parsed() -> None:
    args = parse(["model", "register", "--name", "m", "--type", "clf", "--run-id", "r",
                  "--artifact-path", "p", "--version-label", "v1", "--metric", "acc=0.5",
                  "--metric", "n=3", "--tag", "team=a=b", "--metadata", "k=", "--alias", "prod",
                  "--description", "d", "--idempotency-key", "ik", "--json"])
    assert vars(args) == {
        "command": "model", "action": "register", "name": "m", "model_type": "clf",
        "run_id": "r", "model_uri": None, "artifact_path": "p", "version_label": "v1",
        "metric": [("acc", 0.5), ("n", 3)], "tag": [("team", "a=b")], "metadata": [("k", "")],
        "alias": "prod", "description": "d", "idempotency_key": "ik", "baseline": False,
        "json": True, "endpoint": None, "timeout": 30.0}


@pytest.mark.parametrize("argv", [
    ["model", "register", "--name", "m", "--run-id", "r"],                      # no --type
    ["model", "register", "--name", "m", "--type", "t"],                        # no source
    ["model", "register", "--type", "t", "--run-id", "r", "--model-uri", "u"],  # both
    ["model", "register", "--type", "t", "--run-id", "r", "--metric", "acc"],
    ["model", "register", "--type", "t", "--run-id", "r", "--metric", "acc=high"],
    ["model", "register", "--type", "t", "--run-id", "r", "--metric", "acc=nan"],
    ["model", "register", "--type", "t", "--run-id", "r", "--tag", "=v"],
    ["model", "get", "m"],
    ["model", "transition", "m", "1"],
    ["model"],
    [],
])
def test_usage_errors_exit_2(argv: List[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(argv)
    assert info.value.code == 2


def test_register_get_list_transition_in_mock_mode(
        mock_on: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["model", "register", "--name", "m", "--type", "clf", "--run-id", "r",
                        "--metric", "acc=0.5", "--version-label", "v1", "--json"], capsys)
    assert code == 0
    body = json.loads(out)
    assert (body["model_id"], body["version"], body["version_label"]) == ("m/1", "1", "v1")
    assert body["metrics"] == {"acc": 0.5}

    code, out, _ = run(["model", "get", "m", "1"], capsys)
    assert code == 0 and "model_id:" in out and "m/1" in out and "acc=0.5" in out

    run(["model", "register", "--baseline", "--type", "clf", "--model-uri", "models:/x/1"],
        capsys)
    code, out, _ = run(["model", "list", "--type", "clf"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "VERSION", "LABEL", "TYPE", "STATUS",
                                              "REGISTERED"]
    assert [line.split()[0] for line in lines[1:]] == ["hokusai_clf_baseline", "m"]

    code, out, _ = run(["model", "transition", "m", "1", "Staging", "--json"], capsys)
    assert code == 0 and json.loads(out)["stage"] == "Staging"


def test_register_without_name_needs_baseline(mock_on: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["model", "register", "--type", "t", "--run-id", "r"])
    assert info.value.code == 2 and "--name is required" in capsys.readouterr().err


def test_failures_exit_1_with_the_message(mock_on: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "get", "nope", "1"], capsys)
    assert code == 1 and out == ""
    assert err.startswith("hokusai: error: ") and "nope" in err


def test_missing_configuration_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["whoami"], capsys)
    assert code == 1 and "HOKUSAI_API_ENDPOINT" in err


def test_whoami_against_the_double(double: HttpDouble, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOKUSAI_API_KEY", FAKE_KEY)
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(["model:read"])))
    code, out, _ = run(["whoami", "--endpoint", double.url], capsys)
    assert code == 0
    assert "alice" in out and "k-123" in out and "hk_test_" in out and "model:read" in out
    assert FAKE_KEY not in out
    code, out, _ = run(["whoami", "--endpoint", double.url, "--json"], capsys)
    assert json.loads(out)["user_id"] == "alice"


def test_register_against_the_double_sends_the_flags(
        double: HttpDouble, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOKUSAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("HOKUSAI_API_ENDPOINT", double.url)
    double.script("POST", "/api/v1/models/register", Reply(201, version_body("m", "1")))
    code, _, _ = run(["model", "register", "--name", "m", "--type", "clf", "--model-uri",
                      "runs:/r/model", "--tag", "a=b", "--alias", "champion",
                      "--idempotency-key", "ik-1"], capsys)
    assert code == 0
    [req] = double.requests
    assert req.headers["Idempotency-Key"] == "ik-1"
    assert req.body == {"model_name": "m", "model_type": "clf", "model_uri": "runs:/r/model",
                        "tags": {"a": "b"}, "alias": "champion"}
