"""Where the key and the endpoint come from, and whether mock mode is on.

Resolution order for each of the key and the endpoint: the explicit argument, then what the last
successful :func:`hokusai.setup` was given or found, then the environment variable.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from .errors import ConfigurationError

ENV_API_KEY = "HOKUSAI_API_KEY"
ENV_ENDPOINT = "HOKUSAI_API_ENDPOINT"
ENV_MOCK_MODE = "HOKUSAI_MOCK_MODE"

# The endpoint reported (and used for MLFLOW_TRACKING_URI) in mock mode when none is configured.
MOCK_ENDPOINT = "http://hokusai-mock.invalid"

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ATTEMPTS = 3


def mock_mode_enabled() -> bool:
    """True only when HOKUSAI_MOCK_MODE is exactly the string "true" ("True", "1", "yes" are off)."""
    return os.environ.get(ENV_MOCK_MODE) == "true"


@dataclass(frozen=True)
class Settings:
    """A resolved key and endpoint. ``repr()`` shows the key's prefix only."""

    api_key: Optional[str]
    endpoint: str

    def __repr__(self) -> str:
        return f"Settings(api_key={redact(self.api_key)}, endpoint={self.endpoint!r})"


def redact(key: Optional[str]) -> str:
    """What may be shown of a key: its environment prefix (``hk_live_…``), never the secret."""
    if not key:
        return "None"
    for prefix in ("hk_live_", "hk_test_", "hk_dev_"):
        if key.startswith(prefix):
            return f"'{prefix}…'"
    return "'…'"


_lock = threading.Lock()
_configured_key: Optional[str] = None
_configured_endpoint: Optional[str] = None


def remember(api_key: Optional[str], endpoint: Optional[str]) -> None:
    """Called by setup() on success: later ModelRegistry() calls without arguments use these."""
    global _configured_key, _configured_endpoint
    with _lock:
        _configured_key, _configured_endpoint = api_key, endpoint


def forget() -> None:
    """Drops what setup() remembered (tests)."""
    remember(None, None)


def normalize_endpoint(endpoint: str) -> str:
    """The base URL without trailing slashes; ConfigurationError unless it is http(s)://host."""
    url = endpoint.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"the Hokusai endpoint must be an http:// or https:// URL, got {url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"the Hokusai endpoint must not have a query or fragment: {url!r}")
    return url


def resolve(api_key: Optional[str], endpoint: Optional[str], *, mock: bool) -> Settings:
    """The key and endpoint to use. Outside mock mode both are required (ConfigurationError
    naming the variable to set); in mock mode neither is."""
    with _lock:
        key = api_key or _configured_key or os.environ.get(ENV_API_KEY) or None
        url = endpoint or _configured_endpoint or os.environ.get(ENV_ENDPOINT) or None
    if key is not None:
        key = key.strip()
        if not key or any(c.isspace() for c in key):
            raise ConfigurationError("the API key is empty or contains whitespace")
    if mock:
        return Settings(key, normalize_endpoint(url) if url else MOCK_ENDPOINT)
    if not url:
        raise ConfigurationError(
            f"no Hokusai endpoint: pass endpoint=... (--endpoint in the CLI) or set "
            f"{ENV_ENDPOINT} (e.g. http://127.0.0.1:5000)"
        )
    if not key:
        raise ConfigurationError(f"no API key: pass api_key=... or set {ENV_API_KEY}")
    return Settings(key, normalize_endpoint(url))
