"""The seam between the public API and where answers come from: the HTTP backend (a real server)
or the mock backend (HOKUSAI_MOCK_MODE=true, in process). Both return the server's JSON shapes."""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any, Dict, List, Mapping, Optional, Protocol, Set, Tuple
from urllib.parse import quote

import requests

from . import __version__
from ._config import Settings
from .errors import (
    AuthenticationError,
    ConflictError,
    EndpointUnreachableError,
    HokusaiError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ValidationError,
)

JsonObject = Dict[str, Any]

# Statuses after which a request is sent again (with the same Idempotency-Key). Never a 4xx.
RETRY_STATUSES = frozenset({502, 503, 504})
# The longest the SDK sleeps between two attempts, whatever Retry-After says.
MAX_BACKOFF_S = 10.0
# Pages of GET /api/v1/models followed at most (a server handing out tokens forever is a bug).
MAX_LIST_PAGES = 1000


class Backend(Protocol):
    """What ModelRegistry and setup() need. Each method returns the server's JSON object or
    raises a HokusaiError subclass."""

    def whoami(self) -> JsonObject: ...

    def register(self, kind: str, body: JsonObject, idempotency_key: str) -> JsonObject: ...

    def get_model(self, name: str, version: str) -> JsonObject: ...

    def list_models(self, name: Optional[str], model_type: Optional[str]) -> List[JsonObject]: ...

    def transition(self, name: str, version: str, stage: str) -> JsonObject: ...

    def close(self) -> None: ...


def model_path(name: str, version: str) -> str:
    """/api/v1/models/{name}/{version} with both segments percent-encoded (a name may hold '/')."""
    return f"/api/v1/models/{quote(name, safe='')}/{quote(version, safe='')}"


def _retry_after(resp: requests.Response) -> Optional[float]:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short_reason(exc: requests.RequestException, timeout: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "Failed to resolve" in text or "nodename" in text:
        return "host name not resolved"
    if "Connection reset" in text or "RemoteDisconnected" in text or "aborted" in text:
        return "connection closed by the peer"
    return type(exc).__name__


def error_from_response(resp: requests.Response, method: str, path: str) -> HokusaiError:
    """The one place that turns a non-2xx answer into an exception. Uses the server's
    ``{"error_code", "message", "detail", ...}`` body when there is one."""
    status = resp.status_code
    try:
        parsed = resp.json()
    except ValueError:
        parsed = None
    body: JsonObject = parsed if isinstance(parsed, dict) else {}
    error_code = body.get("error_code") if isinstance(body.get("error_code"), str) else None
    detail = body.get("detail") if isinstance(body.get("detail"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else None
    where = f"{method} {path}"
    if not message:
        if status == 404:
            message = (f"{where}: 404 Not Found (no such resource; a server without the Hokusai "
                       "registration API answers every /api/v1/models route like this)")
        else:
            message = f"{where}: HTTP {status} {resp.reason or ''}".rstrip()
    kw: Dict[str, Any] = {"status_code": status, "error_code": error_code, "detail": detail,
                          "body": body}
    if status == 400:
        return ValidationError(message, **kw)
    if status == 401:
        return AuthenticationError(message, **kw)
    if status == 403:
        scopes = body.get("key_scopes")
        return PermissionDeniedError(
            message,
            required_scope=body.get("required_scope")
            if isinstance(body.get("required_scope"), str) else None,
            key_scopes=tuple(str(s) for s in scopes) if isinstance(scopes, list) else (),
            required_permission=body.get("required_permission")
            if isinstance(body.get("required_permission"), str) else None,
            resource=body.get("resource") if isinstance(body.get("resource"), str) else None,
            **kw,
        )
    if status == 404:
        return NotFoundError(message, **kw)
    if status == 409:
        return ConflictError(message, **kw)
    if status == 429:
        return RateLimitedError(message, retry_after=_retry_after(resp), **kw)
    if status >= 500:
        return ServerError(message, **kw)
    return HokusaiError(message, **kw)


class HttpBackend:
    """Talks to a Hokusai Registry server. Thread-safe as far as ``requests.Session`` is.

    Each call is tried up to ``max_attempts`` times when no answer arrives (connection error,
    timeout) or the answer is 502/503/504, sleeping ``backoff_s * 2**n`` (plus jitter, or the
    server's Retry-After, capped at MAX_BACKOFF_S) in between. 4xx answers are never retried.
    Writes are retried only because they carry an Idempotency-Key (register) or are idempotent
    by nature (transition)."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float,
        max_attempts: int,
        backoff_s: float = 0.5,
        session: Optional[requests.Session] = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._settings = settings
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = f"hokusai-python/{__version__}"

    def __repr__(self) -> str:
        return f"HttpBackend(endpoint={self._settings.endpoint!r})"

    @property
    def endpoint(self) -> str:
        return self._settings.endpoint

    def close(self) -> None:
        """Closes the pooled connections."""
        self._session.close()

    def _sleep_before_retry(self, attempt: int, retry_after: Optional[float]) -> None:
        delay = self._backoff_s * (2 ** attempt) * (1.0 + 0.25 * random.random())
        if retry_after is not None:
            delay = max(delay, retry_after)
        time.sleep(min(delay, MAX_BACKOFF_S))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, str]] = None,
        json_body: Optional[JsonObject] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Any:
        """Sends one call (with retries) and returns the decoded JSON of a 2xx answer."""
        url = self._settings.endpoint + path
        all_headers = {"Accept": "application/json"}
        if self._settings.api_key:
            all_headers["Authorization"] = f"Bearer {self._settings.api_key}"
        all_headers.update(headers or {})
        timeout: Tuple[float, float] = (min(10.0, self._timeout), self._timeout)
        for attempt in range(self._max_attempts):
            last_try = attempt + 1 == self._max_attempts
            try:
                resp = self._session.request(method, url, params=params, json=json_body,
                                             headers=all_headers, timeout=timeout,
                                             allow_redirects=False)
            except requests.RequestException as exc:
                if not last_try:
                    self._sleep_before_retry(attempt, None)
                    continue
                # Raised without the requests exception chained: it holds the request, and the
                # request holds the Authorization header.
                raise EndpointUnreachableError(
                    f"cannot reach the Hokusai endpoint {self._settings.endpoint} "
                    f"({_short_reason(exc, self._timeout)}; {method} {path}, "
                    f"{self._max_attempts} attempt(s))",
                    endpoint=self._settings.endpoint,
                ) from None
            if resp.status_code in RETRY_STATUSES and not last_try:
                retry_after = _retry_after(resp)
                resp.close()
                self._sleep_before_retry(attempt, retry_after)
                continue
            if not 200 <= resp.status_code < 300:
                raise error_from_response(resp, method, path)
            try:
                return resp.json()
            except ValueError:
                raise ServerError(
                    f"{method} {path}: HTTP {resp.status_code} with a body that is not JSON",
                    status_code=resp.status_code,
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _object(self, method: str, path: str, **kw: Any) -> JsonObject:
        body = self.request(method, path, **kw)
        if not isinstance(body, dict):
            raise ServerError(f"{method} {path}: the answer is not a JSON object")
        return body

    def whoami(self) -> JsonObject:
        return self._object("GET", "/api/v1/whoami")

    def register(self, kind: str, body: JsonObject, idempotency_key: str) -> JsonObject:
        return self._object("POST", f"/api/v1/models/{kind}", json_body=body,
                            headers={"Idempotency-Key": idempotency_key})

    def get_model(self, name: str, version: str) -> JsonObject:
        return self._object("GET", model_path(name, version))

    def list_models(self, name: Optional[str], model_type: Optional[str]) -> List[JsonObject]:
        params: Dict[str, str] = {}
        if name is not None:
            params["name"] = name
        if model_type is not None:
            params["model_type"] = model_type
        out: List[JsonObject] = []
        seen_tokens: Set[str] = set()
        for _ in range(MAX_LIST_PAGES):
            page = self._object("GET", "/api/v1/models", params=params)
            models = page.get("models", [])
            if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
                raise ServerError("GET /api/v1/models: 'models' is not a list of objects",
                                  body=page)
            out.extend(models)
            token = page.get("next_page_token")
            if not token or not isinstance(token, str) or token in seen_tokens:
                break
            seen_tokens.add(token)
            params["page_token"] = token
        return out

    def transition(self, name: str, version: str, stage: str) -> JsonObject:
        return self._object("POST", model_path(name, version) + "/transition",
                            json_body={"stage": stage})
