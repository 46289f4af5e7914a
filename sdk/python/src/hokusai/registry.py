"""``ModelRegistry``: one-call registration and the related reads (spec §3)."""

from __future__ import annotations

import math
import uuid
from typing import Any, Dict, List, Mapping, Optional, Union

from ._backend import Backend, HttpBackend
from ._config import DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_S, Settings, mock_mode_enabled, resolve
from .errors import ValidationError
from .mock import MockBackend
from .results import RegisteredModelVersion, WhoAmI

__all__ = ["ModelRegistry"]

# What the server accepts in an Idempotency-Key header (docs/registration.md).
MAX_IDEMPOTENCY_KEY_LENGTH = 255

Number = Union[int, float]
Version = Union[str, int]


def _text(field: str, value: Any, *, required: bool = False) -> Optional[str]:
    if value is None:
        if required:
            raise ValidationError(f"'{field}' is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"'{field}' must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ValidationError(f"'{field}' must not be empty")
    return value


def _string_map(field: str, value: Optional[Mapping[str, str]]) -> Optional[Dict[str, str]]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(f"'{field}' must be a mapping of strings to strings")
    out: Dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValidationError(f"'{field}' must map strings to strings (entry {k!r})")
        out[k] = v
    return out


def _metrics(value: Optional[Mapping[str, Number]]) -> Optional[Dict[str, Number]]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError("'metrics' must be a mapping of names to numbers")
    out: Dict[str, Number] = {}
    for k, v in value.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValidationError(f"'metrics' must map names to numbers (entry {k!r})")
        if not math.isfinite(v):
            raise ValidationError(f"metric '{k}' must be a finite number")
        out[k] = v
    return out


def _version(value: Version) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValidationError("'version' must be a version number (str or int)")
    text = str(value)
    if not text:
        raise ValidationError("'version' must not be empty")
    return text


def registration_body(
    *,
    model_type: str,
    model_name: Optional[str],
    name_required: bool,
    mlflow_run_id: Optional[str],
    model_uri: Optional[str],
    version: Optional[str],
    metrics: Optional[Mapping[str, Number]],
    metadata: Optional[Mapping[str, str]],
    tags: Optional[Mapping[str, str]],
    alias: Optional[str],
    description: Optional[str],
    artifact_path: Optional[str],
) -> Dict[str, Any]:
    """The JSON body of a registration, with the checks that need no server (each error names
    the field). Absent optional fields are left out, so the server applies its defaults."""
    body: Dict[str, Any] = {}
    name = _text("model_name", model_name, required=name_required)
    if name is not None:
        body["model_name"] = name
    body["model_type"] = _text("model_type", model_type, required=True)
    run_id = _text("mlflow_run_id", mlflow_run_id)
    uri = _text("model_uri", model_uri)
    if (run_id is None) == (uri is None):
        raise ValidationError("give exactly one of 'mlflow_run_id' and 'model_uri'")
    if uri is not None and artifact_path is not None:
        raise ValidationError("'artifact_path' goes with 'mlflow_run_id', not with 'model_uri'")
    optional: Dict[str, Any] = {
        "mlflow_run_id": run_id,
        "model_uri": uri,
        "artifact_path": _text("artifact_path", artifact_path),
        "version": _text("version", version),
        "metrics": _metrics(metrics),
        "metadata": _string_map("metadata", metadata),
        "tags": _string_map("tags", tags),
        "alias": _text("alias", alias),
        "description": _text("description", description),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


class ModelRegistry:
    """Registers models with a Hokusai Registry server and reads them back.

    ``api_key`` / ``endpoint`` default to what :func:`hokusai.setup` was given, then to
    ``HOKUSAI_API_KEY`` / ``HOKUSAI_API_ENDPOINT``; ConfigurationError when either is missing
    (outside mock mode). Mock mode (``HOKUSAI_MOCK_MODE=true``) is decided here, once, when the
    registry is created: see :mod:`hokusai.mock`.

    Every call raises a :class:`hokusai.HokusaiError` subclass on failure. Calls are retried
    (``max_attempts`` in all) only when no answer arrived or the answer was 502/503/504.
    ``repr()`` never shows the key. One instance may be shared between threads.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        endpoint: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_s: float = 0.5,
    ) -> None:
        self._mock = mock_mode_enabled()
        self._settings: Settings = resolve(api_key, endpoint, mock=self._mock)
        self._backend: Backend
        if self._mock:
            self._backend = MockBackend(self._settings)
        else:
            self._backend = HttpBackend(self._settings, timeout=timeout,
                                        max_attempts=max_attempts, backoff_s=backoff_s)

    def __repr__(self) -> str:
        mode = ", mock=True" if self._mock else ""
        return f"ModelRegistry(endpoint={self._settings.endpoint!r}{mode})"

    def close(self) -> None:
        """Releases pooled connections; the registry may not be used afterwards."""
        self._backend.close()

    def __enter__(self) -> "ModelRegistry":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def endpoint(self) -> str:
        """The server's base URL (a placeholder in mock mode when none was configured)."""
        return self._settings.endpoint

    @property
    def mock_mode(self) -> bool:
        """Whether this registry answers from the in-process mock."""
        return self._mock

    def whoami(self) -> WhoAmI:
        """The principal behind the key (``GET /api/v1/whoami``)."""
        return WhoAmI.from_json(self._backend.whoami())

    def _register(self, kind: str, body: Dict[str, Any],
                  idempotency_key: Optional[str]) -> RegisteredModelVersion:
        key = _text("idempotency_key", idempotency_key)
        if key is not None and not (
                0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH and all("!" <= c <= "~" for c in key)):
            raise ValidationError(f"'idempotency_key' must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} "
                                  "visible ASCII characters (no spaces)")
        # One key per call, reused by its retries: a retry after a lost answer cannot register
        # twice. Pass your own to make retries across processes safe as well.
        key = key or str(uuid.uuid4())
        return RegisteredModelVersion.from_json(self._backend.register(kind, body, key))

    def register_model(
        self,
        model_name: str,
        model_type: str,
        mlflow_run_id: Optional[str] = None,
        model_uri: Optional[str] = None,
        version: Optional[str] = None,
        metrics: Optional[Mapping[str, Number]] = None,
        metadata: Optional[Mapping[str, str]] = None,
        *,
        alias: Optional[str] = None,
        description: Optional[str] = None,
        artifact_path: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> RegisteredModelVersion:
        """Registers a new version of ``model_name`` in one call (``POST /api/v1/models/register``).

        Exactly one of ``mlflow_run_id`` (with ``artifact_path``, default ``"model"`` on the
        server) and ``model_uri`` (``runs:/``, ``models:/``, ``mlflow-artifacts:/``). ``version``
        is a free-form label kept as a tag (e.g. "v1.0.0"); the registry's version number is in
        the result. ``alias`` moves to the new version. ``idempotency_key``: the same key with
        the same arguments returns the first result; with other arguments, ConflictError; when
        omitted, a fresh one is generated for this call (so the SDK's own retries are safe).

        Raises ValidationError (400), AuthenticationError (401), PermissionDeniedError (403),
        NotFoundError (404: run or artifact missing or not readable; nothing is created),
        ConflictError (409), RateLimitedError (429), EndpointUnreachableError, ServerError.
        """
        body = registration_body(
            model_type=model_type, model_name=model_name, name_required=True,
            mlflow_run_id=mlflow_run_id, model_uri=model_uri, version=version, metrics=metrics,
            metadata=metadata, tags=tags, alias=alias, description=description,
            artifact_path=artifact_path)
        return self._register("register", body, idempotency_key)

    def register_baseline_via_api(
        self,
        model_type: str,
        mlflow_run_id: Optional[str] = None,
        model_uri: Optional[str] = None,
        version: Optional[str] = None,
        metrics: Optional[Mapping[str, Number]] = None,
        metadata: Optional[Mapping[str, str]] = None,
        model_name: Optional[str] = None,
        *,
        alias: Optional[str] = None,
        description: Optional[str] = None,
        artifact_path: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> RegisteredModelVersion:
        """Registers a baseline model (``POST /api/v1/models/baseline``): as
        :meth:`register_model`, but ``model_name`` may be omitted and then defaults (on the
        server) to ``hokusai_<model_type>_baseline``."""
        body = registration_body(
            model_type=model_type, model_name=model_name, name_required=False,
            mlflow_run_id=mlflow_run_id, model_uri=model_uri, version=version, metrics=metrics,
            metadata=metadata, tags=tags, alias=alias, description=description,
            artifact_path=artifact_path)
        return self._register("baseline", body, idempotency_key)

    def get_model(self, name: str, version: Version) -> RegisteredModelVersion:
        """One version (``GET /api/v1/models/{name}/{version}``, name percent-encoded).
        NotFoundError when it does not exist or the key may not read it."""
        model_name = _text("name", name, required=True)
        assert model_name is not None
        return RegisteredModelVersion.from_json(
            self._backend.get_model(model_name, _version(version)))

    def list_models(self, name: Optional[str] = None,
                    model_type: Optional[str] = None) -> List[RegisteredModelVersion]:
        """Registered versions the key may read (``GET /api/v1/models``), optionally only those
        of model ``name`` and/or of ``model_type``; every page is fetched."""
        return [RegisteredModelVersion.from_json(m) for m in self._backend.list_models(
            _text("name", name), _text("model_type", model_type))]

    def transition(self, name: str, version: Version, stage: str) -> RegisteredModelVersion:
        """Moves a version to ``stage`` (``POST .../transition``): the server points alias
        ``stage.lower()`` at it and sets its tag ``lifecycle_stage``."""
        model_name = _text("name", name, required=True)
        stage_name = _text("stage", stage, required=True)
        assert model_name is not None and stage_name is not None
        return RegisteredModelVersion.from_json(
            self._backend.transition(model_name, _version(version), stage_name))
