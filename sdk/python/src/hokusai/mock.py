"""Mock mode: ``HOKUSAI_MOCK_MODE=true`` (exactly that string) makes :func:`hokusai.setup` and
:class:`hokusai.ModelRegistry` answer from an in-memory registry shared by the whole process,
without touching the network, for unit tests of code that uses the SDK.

Behaviour, deterministic for a given sequence of calls:

- ``setup()`` checks nothing remotely; the principal is ``mock-user`` with the ``developer``
  scopes (experiment:read, experiment:write, model:read, model:write).
- Registering gives version "1", "2", ... per model name; ``registration_timestamp`` is
  2000-01-01T00:00:00Z plus one second per registration in the process (valid RFC 3339, clearly
  not a real time); ``source`` is the ``model_uri`` given, else ``runs:/<run id>/<artifact path>``.
- The same Idempotency-Key with the same body returns the first result; with another body,
  ConflictError. Runs are not checked (there is no tracking server).
- get/list/transition see what was registered; unknown name or version → NotFoundError.

:func:`reset` empties the registry (call it between tests).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

from ._config import Settings, mock_mode_enabled
from .errors import ConflictError, NotFoundError, ValidationError

__all__ = ["is_enabled", "reset", "MockBackend"]

JsonObject = Dict[str, Any]

_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_MODEL_TYPE = re.compile(r"[A-Za-z0-9_.-]+")
_MODEL_URI_SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/")


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.versions: Dict[str, List[JsonObject]] = {}
        self.idempotency: Dict[Tuple[str, str], Tuple[str, JsonObject]] = {}
        self.registrations = 0


_STATE = _State()


def is_enabled() -> bool:
    """Whether HOKUSAI_MOCK_MODE is exactly "true" right now."""
    return mock_mode_enabled()


def reset() -> None:
    """Forgets every mock registration and idempotency key of this process."""
    with _STATE.lock:
        _STATE.clear()


def _timestamp(n: int) -> str:
    return (_EPOCH + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


class MockBackend:
    """The in-process stand-in for a server (see the module documentation)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __repr__(self) -> str:
        return f"MockBackend(endpoint={self._settings.endpoint!r})"

    @property
    def endpoint(self) -> str:
        return self._settings.endpoint

    def close(self) -> None:
        """Nothing to release."""

    def whoami(self) -> JsonObject:
        key = self._settings.api_key or ""
        prefix = next((p for p in ("hk_live_", "hk_test_", "hk_dev_") if key.startswith(p)),
                      "hk_test_")
        return {
            "user_id": "mock-user",
            "email": "mock-user@example.invalid",
            "roles": [],
            "is_admin": False,
            "user": {"id": "mock-user", "email": "mock-user@example.invalid", "roles": [],
                     "is_admin": False},
            "key_id": "mock-key",
            "key_prefix": prefix,
            "key_name": "mock",
            "environment": prefix[3:-1],
            "scopes": ["experiment:read", "experiment:write", "model:read", "model:write"],
            "expires_at": None,
            "rate_limit_per_hour": None,
            "rate_limit_remaining": None,
            "tracking_uri": self._settings.endpoint,
            "mock": True,
        }

    def register(self, kind: str, body: JsonObject, idempotency_key: str) -> JsonObject:
        run_id = body.get("mlflow_run_id")
        model_uri = body.get("model_uri")
        if model_uri is not None and not str(model_uri).startswith(_MODEL_URI_SCHEMES):
            raise ValidationError(
                "'model_uri' must start with runs:/, models:/ or mlflow-artifacts:/",
                status_code=400, error_code="INVALID_PARAMETER_VALUE")
        if not _MODEL_TYPE.fullmatch(body["model_type"]):
            raise ValidationError(
                "'model_type' may contain only letters, digits, '_', '-' and '.'",
                status_code=400, error_code="INVALID_PARAMETER_VALUE")
        name = body.get("model_name") or f"hokusai_{body['model_type']}_baseline"
        canonical = json.dumps({"kind": kind, **body}, sort_keys=True)
        with _STATE.lock:
            seen = _STATE.idempotency.get(("mock-user", idempotency_key))
            if seen is not None:
                if seen[0] != canonical:
                    raise ConflictError(
                        f"Idempotency-Key '{idempotency_key}' was already used with a different "
                        "request body", status_code=409, error_code="RESOURCE_CONFLICT")
                return copy.deepcopy(seen[1])
            versions = _STATE.versions.setdefault(name, [])
            version = str(len(versions) + 1)
            _STATE.registrations += 1
            source = model_uri or f"runs:/{run_id}/{body.get('artifact_path') or 'model'}"
            record: JsonObject = {
                "model_id": f"{name}/{version}",
                "model_name": name,
                "version": version,
                "version_label": body.get("version"),
                "model_type": body["model_type"],
                "metrics": dict(body.get("metrics") or {}),
                "status": "registered",
                "registration_timestamp": _timestamp(_STATE.registrations),
                "mlflow_run_id": run_id,
                "source": source,
                "aliases": [body["alias"]] if body.get("alias") else [],
                "tags": {**(body.get("metadata") or {}), **(body.get("tags") or {})},
                "description": body.get("description"),
            }
            if body.get("alias"):
                self._move_alias(name, body["alias"], version)
            versions.append(record)
            _STATE.idempotency[("mock-user", idempotency_key)] = (canonical, record)
            return copy.deepcopy(record)

    @staticmethod
    def _move_alias(name: str, alias: str, version: str) -> None:
        for other in _STATE.versions.get(name, []):
            if other["version"] != version and alias in other["aliases"]:
                other["aliases"].remove(alias)

    @staticmethod
    def _find(name: str, version: str) -> JsonObject:
        for record in _STATE.versions.get(name, []):
            if record["version"] == version:
                return record
        raise NotFoundError(f"Model version '{name}' version '{version}' not found",
                            status_code=404, error_code="RESOURCE_DOES_NOT_EXIST")

    def get_model(self, name: str, version: str) -> JsonObject:
        with _STATE.lock:
            return copy.deepcopy(self._find(name, version))

    def list_models(self, name: Optional[str], model_type: Optional[str]) -> List[JsonObject]:
        with _STATE.lock:
            return [copy.deepcopy(r) for n in sorted(_STATE.versions)
                    for r in _STATE.versions[n]
                    if (name is None or n == name)
                    and (model_type is None or r["model_type"] == model_type)]

    def transition(self, name: str, version: str, stage: str) -> JsonObject:
        with _STATE.lock:
            record = self._find(name, version)
            alias = stage.lower()
            self._move_alias(name, alias, version)
            if alias not in record["aliases"]:
                record["aliases"].append(alias)
            record["stage"] = stage
            record["tags"]["lifecycle_stage"] = stage
            return copy.deepcopy(record)
