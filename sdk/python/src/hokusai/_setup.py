"""``hokusai.setup()``: configure the stock MLflow client with a Hokusai key, after checking it."""

from __future__ import annotations

import os
import warnings
from typing import Iterable, Optional

from . import _config
from .errors import PermissionDeniedError
from .registry import ModelRegistry
from .results import WhoAmI

# What one-call registration needs from the key.
DEFAULT_REQUIRED_SCOPES = ("model:write",)


def setup(
    api_key: Optional[str] = None,
    endpoint: Optional[str] = None,
    *,
    require: Iterable[str] = DEFAULT_REQUIRED_SCOPES,
    timeout: float = _config.DEFAULT_TIMEOUT_S,
) -> WhoAmI:
    """Checks the key against the server and points the stock ``mlflow`` client at it.

    ``api_key`` / ``endpoint`` default to ``HOKUSAI_API_KEY`` / ``HOKUSAI_API_ENDPOINT``. The key
    is verified with ``GET /api/v1/whoami``; every scope in ``require`` (default
    ``("model:write",)``, what registration needs; ``()`` to check only that the key is valid)
    must be covered by the key's scopes, else PermissionDeniedError naming the missing scope(s).
    Only then are ``MLFLOW_TRACKING_URI`` (the endpoint) and ``MLFLOW_TRACKING_TOKEN`` (the key)
    set in ``os.environ``, and the key and endpoint remembered for ``ModelRegistry()``.

    In mock mode (``HOKUSAI_MOCK_MODE=true``) nothing is sent: the principal is the mock one
    (developer scopes), the key is optional, and the variables are set only for what was given.

    Raises ConfigurationError (no key or endpoint), EndpointUnreachableError (the message names
    the URL), AuthenticationError (key refused), PermissionDeniedError (scope missing).
    Returns the principal. The key is never printed, logged or put in an exception.
    """
    with ModelRegistry(api_key, endpoint, timeout=timeout) as registry:
        settings = registry._settings
        principal = registry.whoami()
    wanted = (require,) if isinstance(require, str) else tuple(require)
    missing = [scope for scope in wanted if not principal.has_scope(scope)]
    if missing:
        names = ", ".join(missing)
        held = ", ".join(principal.scopes) or "none"
        raise PermissionDeniedError(
            f"the API key of user '{principal.user_id}' lacks the scope {names} "
            f"(it has: {held}); use a key that has {names}",
            required_scope=missing[0],
            key_scopes=principal.scopes,
            status_code=None,
        )
    if os.environ.get("MLFLOW_TRACKING_USERNAME") and os.environ.get("MLFLOW_TRACKING_PASSWORD"):
        warnings.warn(
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD are set: the mlflow client "
            "sends them instead of MLFLOW_TRACKING_TOKEN; unset them to use the Hokusai key",
            stacklevel=2,
        )
    if not registry.mock_mode or settings.endpoint != _config.MOCK_ENDPOINT:
        os.environ["MLFLOW_TRACKING_URI"] = settings.endpoint
    if settings.api_key:
        os.environ["MLFLOW_TRACKING_TOKEN"] = settings.api_key
    _config.remember(settings.api_key, settings.endpoint if not registry.mock_mode else None)
    return principal
