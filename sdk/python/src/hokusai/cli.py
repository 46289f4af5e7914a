"""The ``hokusai`` console script.

The API key comes from ``HOKUSAI_API_KEY`` only: it is never accepted as an argument (it would
end up in shell history and in ``ps``), and anything key-shaped on the command line is refused
without being echoed. Exit status: 0 on success, 1 when the SDK raised (the message goes to
stderr), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import asdict
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, TextIO, Tuple, Union

from . import __version__
from ._config import ENV_API_KEY, ENV_ENDPOINT, ENV_MOCK_MODE
from .errors import HokusaiError
from .registry import ModelRegistry
from .results import RegisteredModelVersion, WhoAmI

# Anything that looks like a Hokusai key (or starts like one).
_KEY_LIKE = re.compile(r"hk_(?:live|test|dev)_[0-9A-Za-z]*")


def _redact(text: str) -> str:
    return _KEY_LIKE.sub("hk_…", text)


class _Parser(argparse.ArgumentParser):
    """argparse, but its error messages (which quote the offending arguments) never show a key."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {_redact(message)}\n")


def _pair(kind: str) -> Callable[[str], Tuple[str, str]]:
    def parse(text: str) -> Tuple[str, str]:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"{kind} must be KEY=VALUE, got {text!r}")
        return key, value
    return parse


def _metric(text: str) -> Tuple[str, Union[int, float]]:
    key, value = _pair("--metric")(text)
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"metric '{key}' must be a number, got {value!r}")
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"metric '{key}' must be a finite number")
    return key, int(number) if re.fullmatch(r"[+-]?\d+", value.strip()) else number


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--endpoint", metavar="URL",
                        help=f"server base URL (default: ${ENV_ENDPOINT})")
    common.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="per-request timeout (default 30)")
    common.add_argument("--json", action="store_true", help="print the server's JSON")

    parser = _Parser(
        prog="hokusai",
        description=f"Hokusai Registry client. The API key is read from ${ENV_API_KEY} only; "
                    f"${ENV_MOCK_MODE}=true answers locally without a server.",
    )
    parser.add_argument("--version", action="version", version=f"hokusai {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    commands.add_parser("whoami", parents=[common],
                        help="show the user, key id and prefix, and scopes of the key")

    model = commands.add_parser("model", help="register and read models")
    actions = model.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    register = actions.add_parser(
        "register", parents=[common], help="register a model version in one call",
        description="Register a new version from an MLflow run (--run-id) or a model URI.")
    register.add_argument("--name", help="registered model name (required unless --baseline)")
    register.add_argument("--type", required=True, dest="model_type", help="model type")
    source = register.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-id", help="MLflow run whose artifact holds the model")
    source.add_argument("--model-uri", help="runs:/, models:/ or mlflow-artifacts:/ URI")
    register.add_argument("--artifact-path", help="model path inside the run (server default: model)")
    register.add_argument("--version-label", help="free-form version label, e.g. v1.0.0")
    register.add_argument("--metric", action="append", type=_metric, default=[],
                          metavar="NAME=NUMBER", help="a metric (repeatable)")
    register.add_argument("--tag", action="append", type=_pair("--tag"), default=[],
                          metavar="KEY=VALUE", help="a version tag (repeatable)")
    register.add_argument("--metadata", action="append", type=_pair("--metadata"), default=[],
                          metavar="KEY=VALUE", help="a metadata entry (repeatable)")
    register.add_argument("--alias", help="alias to point at the new version")
    register.add_argument("--description", help="version description")
    register.add_argument("--idempotency-key", metavar="KEY",
                          help="makes a repeated command return the first result")
    register.add_argument("--baseline", action="store_true",
                          help="use the baseline endpoint (name defaults to "
                               "hokusai_<type>_baseline)")

    get = actions.add_parser("get", parents=[common], help="show one model version")
    get.add_argument("name")
    get.add_argument("version")

    lst = actions.add_parser("list", parents=[common], help="list registered model versions")
    lst.add_argument("--name", help="only this model")
    lst.add_argument("--type", dest="model_type", help="only this model type")

    transition = actions.add_parser("transition", parents=[common],
                                    help="move a version to a stage (alias stage.lower())")
    transition.add_argument("name")
    transition.add_argument("version")
    transition.add_argument("stage")
    return parser


def _print_version(mv: RegisteredModelVersion, out: TextIO) -> None:
    rows = [
        ("model_id", mv.model_id), ("model_name", mv.model_name), ("version", mv.version),
        ("version_label", mv.version_label), ("model_type", mv.model_type),
        ("status", mv.status), ("stage", mv.stage),
        ("registration_timestamp", mv.registration_timestamp),
        ("mlflow_run_id", mv.mlflow_run_id), ("source", mv.source),
        ("metrics", ", ".join(f"{k}={v:g}" for k, v in sorted(mv.metrics.items())) or None),
    ]
    for label, value in rows:
        if value is not None:
            print(f"{label + ':':<24}{value}", file=out)


def _print_whoami(who: WhoAmI, out: TextIO) -> None:
    rows = [
        ("user", who.user_id + (f" <{who.email}>" if who.email else "")),
        ("admin", "yes" if who.is_admin else "no"),
        ("key id", who.key_id), ("key prefix", who.key_prefix), ("key name", who.key_name),
        ("scopes", " ".join(who.scopes) or "none"),
        ("expires", who.expires_at or "never"),
        ("rate limit", None if who.rate_limit_per_hour is None else
         f"{who.rate_limit_remaining} of {who.rate_limit_per_hour} per hour left"),
        ("tracking uri", who.tracking_uri),
    ]
    for label, value in rows:
        if value is not None:
            print(f"{label + ':':<14}{value}", file=out)


def _dump(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, sort_keys=True), file=out)


def _run(args: argparse.Namespace, out: TextIO) -> None:
    with ModelRegistry(endpoint=args.endpoint, timeout=args.timeout) as registry:
        _run_with(registry, args, out)


def _run_with(registry: ModelRegistry, args: argparse.Namespace, out: TextIO) -> None:
    if args.command == "whoami":
        who = registry.whoami()
        if args.json:
            _dump(who.raw, out)
        else:
            _print_whoami(who, out)
        return
    result: Optional[RegisteredModelVersion] = None
    if args.action == "register":
        common: Dict[str, Any] = dict(
            mlflow_run_id=args.run_id, model_uri=args.model_uri,
            version=args.version_label, metrics=dict(args.metric) or None,
            metadata=dict(args.metadata) or None, tags=dict(args.tag) or None,
            alias=args.alias, description=args.description, artifact_path=args.artifact_path,
            idempotency_key=args.idempotency_key)
        if args.baseline:
            result = registry.register_baseline_via_api(args.model_type, model_name=args.name,
                                                        **common)
        else:
            result = registry.register_model(args.name, args.model_type, **common)
    elif args.action == "get":
        result = registry.get_model(args.name, args.version)
    elif args.action == "transition":
        result = registry.transition(args.name, args.version, args.stage)
    elif args.action == "list":
        versions = registry.list_models(name=args.name, model_type=args.model_type)
        if args.json:
            _dump({"models": [v.raw for v in versions]}, out)
            return
        header = ("NAME", "VERSION", "LABEL", "TYPE", "STATUS", "REGISTERED")
        rows: List[Sequence[str]] = [header]
        rows += [
            (v.model_name, v.version, v.version_label or "-", v.model_type or "-", v.status,
             v.registration_timestamp or "-") for v in versions]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip(), file=out)
        return
    assert result is not None
    if args.json:
        _dump(result.raw or asdict(result), out)
    else:
        _print_version(result, out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the CLI; returns the exit status (the console script exits with it)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if any(_KEY_LIKE.search(a) for a in arguments) or any(
            a.split("=", 1)[0] in ("--api-key", "--key", "--token") for a in arguments):
        parser.print_usage(sys.stderr)
        print(f"hokusai: error: the API key is never taken from the command line (it would land "
              f"in shell history and ps); set {ENV_API_KEY} instead", file=sys.stderr)
        return 2
    args = parser.parse_args(arguments)
    if args.command == "model" and args.action == "register" and not (args.name or args.baseline):
        parser.error("model register: --name is required (or use --baseline)")
    try:
        _run(args, sys.stdout)
    except HokusaiError as exc:
        print(f"hokusai: error: {_redact(str(exc))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
