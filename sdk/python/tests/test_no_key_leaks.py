"""The key never shows in a repr, an exception (or its chain), a log record or CLI output."""

from __future__ import annotations

import logging
import traceback

import pytest

import hokusai
from hokusai import _config, cli
from sdk_helpers import FAKE_KEY, HttpDouble, Reply, closed_port_url, whoami_body


def _everything_about(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc) + \
        repr(vars(exc))


def test_reprs_hide_the_key(double: HttpDouble) -> None:
    reg = hokusai.ModelRegistry(api_key=FAKE_KEY, endpoint=double.url)
    settings = _config.resolve(FAKE_KEY, double.url, mock=False)
    for text in (repr(reg), str(reg), repr(settings), repr(reg._backend), repr(vars(reg))):
        assert FAKE_KEY not in text
    assert "hk_test_…" in repr(settings)


def test_whoami_result_holds_no_key(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(["model:write"])))
    who = hokusai.setup(api_key=FAKE_KEY, endpoint=double.url)
    assert FAKE_KEY not in repr(who) and FAKE_KEY not in repr(who.raw)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 429, 500, 503])
def test_http_errors_hold_no_key(double: HttpDouble, status: int) -> None:
    double.script("POST", "/api/v1/models/register",
                  Reply(status, {"error_code": "X", "message": "refused"}))
    with pytest.raises(hokusai.HokusaiError) as info:
        hokusai.ModelRegistry(api_key=FAKE_KEY, endpoint=double.url, backoff_s=0).register_model(
            "m", "t", mlflow_run_id="r")
    assert FAKE_KEY not in _everything_about(info.value)


def test_unreachable_error_holds_no_key_and_no_request_chain(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(hokusai.EndpointUnreachableError) as info:
        hokusai.ModelRegistry(api_key=FAKE_KEY, endpoint=closed_port_url(),
                              max_attempts=2, backoff_s=0).get_model("m", "1")
    # The requests exception (which holds the request and its Authorization header) is not
    # chained to ours.
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert FAKE_KEY not in _everything_about(info.value)
    assert FAKE_KEY not in caplog.text


def test_scope_error_holds_no_key(double: HttpDouble) -> None:
    double.script("GET", "/api/v1/whoami", Reply(200, whoami_body(["model:read"])))
    with pytest.raises(hokusai.PermissionDeniedError) as info:
        hokusai.setup(api_key=FAKE_KEY, endpoint=double.url)
    assert FAKE_KEY not in _everything_about(info.value)


def test_cli_never_echoes_a_key_given_as_an_argument(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["whoami", "--api-key", FAKE_KEY], ["whoami", f"--api-key={FAKE_KEY}"],
                 ["model", "get", FAKE_KEY, "1"], ["whoami", FAKE_KEY]):
        assert cli.main(argv) == 2
        out, err = capsys.readouterr()
        assert FAKE_KEY not in out + err
        assert "HOKUSAI_API_KEY" in err


def test_cli_usage_errors_redact_keys(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["whoami", "--bogus", FAKE_KEY])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert FAKE_KEY not in out + err and "--bogus" in err
