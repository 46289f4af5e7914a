"""The exceptions the SDK raises. Every one derives from :class:`HokusaiError`.

No exception ever carries the API key: messages are built from the server's error body, the
endpoint URL and the request path only.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple


class HokusaiError(Exception):
    """Base class. ``status_code`` is the HTTP status (None when no answer was received),
    ``error_code`` the server's MLflow-style code (e.g. ``INVALID_PARAMETER_VALUE``),
    ``message`` the server's message (or the SDK's own), ``detail`` the server's human sentence
    when it sent one, ``body`` the whole JSON error body (empty when there was none)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: Optional[int] = None,
        error_code: Optional[str] = None,
        detail: Optional[str] = None,
        body: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.detail = detail
        self.body: Dict[str, Any] = dict(body or {})

    def __str__(self) -> str:
        return self.message


class ConfigurationError(HokusaiError):
    """No API key or no endpoint could be found, or the endpoint is not an http(s) URL."""


class AuthenticationError(HokusaiError):
    """401: the key is missing, malformed, unknown, revoked, expired or refused for this address
    (the server deliberately does not say which)."""


class PermissionDeniedError(HokusaiError):
    """403, or a key that lacks a scope :func:`hokusai.setup` was told to require.

    ``required_scope`` names the missing scope (e.g. ``model:write``) and ``key_scopes`` lists
    what the key has, when known; for a per-resource permission refusal the server sends
    ``required_permission`` and ``resource`` instead."""

    def __init__(
        self,
        message: str,
        *,
        required_scope: Optional[str] = None,
        key_scopes: Tuple[str, ...] = (),
        required_permission: Optional[str] = None,
        resource: Optional[str] = None,
        status_code: Optional[int] = 403,
        error_code: Optional[str] = "PERMISSION_DENIED",
        detail: Optional[str] = None,
        body: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, error_code=error_code, detail=detail, body=body
        )
        self.required_scope = required_scope
        self.key_scopes = key_scopes
        self.required_permission = required_permission
        self.resource = resource


class NotFoundError(HokusaiError):
    """404: the model, version, run or artifact does not exist or is not readable by the key."""


class ConflictError(HokusaiError):
    """409: the Idempotency-Key was already used with a different request body."""


class ValidationError(HokusaiError):
    """400: a field is invalid; the message is the server's and names the field. Also raised by
    the SDK before sending anything when an argument cannot be right (e.g. neither
    ``mlflow_run_id`` nor ``model_uri``)."""


class RateLimitedError(HokusaiError):
    """429: the key's rate limit (or the per-address guard) is exhausted. ``retry_after`` is the
    server's ``Retry-After`` in seconds, when it sent one. Not retried by the SDK."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: Optional[float] = None,
        status_code: Optional[int] = 429,
        error_code: Optional[str] = None,
        detail: Optional[str] = None,
        body: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, error_code=error_code, detail=detail, body=body
        )
        self.retry_after = retry_after


class EndpointUnreachableError(HokusaiError):
    """No HTTP answer: connection refused, DNS failure, TLS failure or timeout, after the SDK's
    retries. ``endpoint`` is the URL that could not be reached; the message names it. The SDK
    never falls back to mock mode."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class ServerError(HokusaiError):
    """5xx (after retries for 502/503/504), or an answer that is not the JSON the contract
    promises."""
