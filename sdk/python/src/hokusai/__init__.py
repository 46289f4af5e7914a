"""Hokusai Registry Python SDK.

- :func:`setup` checks an API key and points the stock ``mlflow`` client at the server.
- :class:`ModelRegistry` registers a model in one call and reads registrations back.
- ``HOKUSAI_MOCK_MODE=true`` answers locally without a server (:mod:`hokusai.mock`).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    EndpointUnreachableError,
    HokusaiError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ValidationError,
)
from .registry import ModelRegistry  # noqa: E402
from .results import RegisteredModelVersion, WhoAmI, scope_covers  # noqa: E402
from ._setup import DEFAULT_REQUIRED_SCOPES, setup  # noqa: E402
from . import mock  # noqa: E402

__all__ = [
    "__version__",
    "setup",
    "DEFAULT_REQUIRED_SCOPES",
    "ModelRegistry",
    "RegisteredModelVersion",
    "WhoAmI",
    "scope_covers",
    "mock",
    "HokusaiError",
    "ConfigurationError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "ValidationError",
    "RateLimitedError",
    "EndpointUnreachableError",
    "ServerError",
]
