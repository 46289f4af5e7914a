"""What the SDK returns: immutable dataclasses built from the server's JSON (the whole JSON stays
available as ``raw``). Parsing is lenient about fields the server adds and strict about the type
of the fields the contract names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Mapping, Optional, Tuple

from .errors import ServerError

__all__ = ["RegisteredModelVersion", "WhoAmI", "scope_covers"]


def _str(body: Mapping[str, Any], key: str, *, required: bool = True) -> Optional[str]:
    value = body.get(key)
    if value is None:
        if required:
            raise ServerError(f"the server's answer has no '{key}'", body=body)
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ServerError(f"the server's answer has a non-string '{key}'", body=body)
    return value


def _metrics(body: Mapping[str, Any]) -> Dict[str, float]:
    value = body.get("metrics")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ServerError("the server's answer has a 'metrics' that is not an object", body=body)
    out: Dict[str, float] = {}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ServerError(f"the server's answer has a non-numeric metric '{name}'", body=body)
        out[str(name)] = float(number)
    return out


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset, optional fraction) as an aware datetime."""
    normalized = text.strip()
    if normalized.endswith(("Z", "z")):
        normalized = normalized[:-1] + "+00:00"
    # Python 3.9's fromisoformat takes at most 6 fractional digits.
    normalized = re.sub(r"(\.\d{6})\d+", r"\1", normalized)
    parsed = datetime.fromisoformat(normalized)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


@dataclass(frozen=True)
class RegisteredModelVersion:
    """One registered model version, as the registration API reports it (spec §3).

    ``model_id`` is ``<name>/<version>``; ``version`` is the registry's version number as a
    string ("1", "2", ...); ``version_label`` the caller's free-form label (e.g. "v1.0.0") or None;
    ``stage`` is set by :meth:`ModelRegistry.transition` answers (None otherwise)."""

    model_id: str
    model_name: str
    version: str
    version_label: Optional[str]
    model_type: Optional[str]
    metrics: Dict[str, float]
    status: str
    registration_timestamp: Optional[str]
    mlflow_run_id: Optional[str]
    source: Optional[str]
    stage: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def registered_at(self) -> Optional[datetime]:
        """``registration_timestamp`` as an aware datetime (None when absent)."""
        if not self.registration_timestamp:
            return None
        return parse_rfc3339(self.registration_timestamp)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> "RegisteredModelVersion":
        """Builds one from a server answer; ServerError when a contract field is missing or of
        the wrong type."""
        if not isinstance(body, Mapping):
            raise ServerError("the server's answer is not a JSON object")
        name = _str(body, "model_name")
        version = _str(body, "version")
        assert name is not None and version is not None
        model_id = _str(body, "model_id", required=False) or f"{name}/{version}"
        return cls(
            model_id=model_id,
            model_name=name,
            version=version,
            version_label=_str(body, "version_label", required=False),
            model_type=_str(body, "model_type", required=False),
            metrics=_metrics(body),
            status=_str(body, "status", required=False) or "registered",
            registration_timestamp=_str(body, "registration_timestamp", required=False),
            mlflow_run_id=_str(body, "mlflow_run_id", required=False),
            source=_str(body, "source", required=False),
            stage=_str(body, "stage", required=False),
            raw=dict(body),
        )


_LEGACY_SCOPES: Dict[str, Tuple[str, ...]] = {
    "mlflow:read": ("experiment:read", "model:read"),
    "read": ("experiment:read", "model:read"),
    "mlflow:write": ("experiment:write", "model:write"),
    "mlflow:access": ("experiment:write", "model:write"),
    "write": ("experiment:write", "model:write"),
    "full_access": ("experiment:write", "model:write"),
}


def _glob(pattern: str, text: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text) is not None


def _split(scope: str) -> Tuple[str, str, str]:
    parts = scope.split(":", 2)
    if len(parts) < 2:
        return scope, "", ""
    pattern = parts[2] if len(parts) == 3 else ""
    return parts[0], parts[1], "" if pattern == "*" else pattern


def scope_covers(held: str, wanted: str) -> bool:
    """Whether a key holding scope ``held`` may do what scope ``wanted`` allows, by the server's
    rules (docs/keys.md): ``admin`` covers everything, write covers read, legacy names map onto
    the new ones. A name-narrowed held scope (``model:write:acme-*``) covers an un-narrowed
    ``wanted`` (the key can do it for *some* names; the server decides per name) and a narrowed
    ``wanted`` when the held pattern matches it."""
    if held in _LEGACY_SCOPES:
        return any(scope_covers(h, wanted) for h in _LEGACY_SCOPES[held])
    if held == "admin":
        return True
    if wanted == "admin":
        return False
    h_res, h_act, h_pat = _split(held)
    w_res, w_act, w_pat = _split(wanted)
    if h_res != w_res or h_act not in ("read", "write") or w_act not in ("read", "write"):
        return False
    if h_act == "read" and w_act == "write":
        return False
    if not h_pat or not w_pat:
        return True
    return _glob(h_pat, w_pat)


@dataclass(frozen=True)
class WhoAmI:
    """The principal behind a key (``GET /api/v1/whoami``). Never holds the key itself."""

    user_id: str
    email: Optional[str]
    key_id: Optional[str]
    key_prefix: Optional[str]
    key_name: Optional[str]
    environment: Optional[str]
    scopes: Tuple[str, ...]
    roles: Tuple[str, ...]
    is_admin: bool
    expires_at: Optional[str]
    rate_limit_per_hour: Optional[int]
    rate_limit_remaining: Optional[int]
    tracking_uri: Optional[str]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def has_scope(self, scope: str) -> bool:
        """Whether any of the key's scopes covers ``scope`` (see :func:`scope_covers`)."""
        return any(scope_covers(held, scope) for held in self.scopes)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> "WhoAmI":
        if not isinstance(body, Mapping):
            raise ServerError("the server's whoami answer is not a JSON object")
        user_id = _str(body, "user_id")
        assert user_id is not None
        scopes = body.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ServerError("the server's whoami answer has no list of 'scopes'", body=body)
        roles = body.get("roles") or []
        limit = body.get("rate_limit_per_hour")
        remaining = body.get("rate_limit_remaining")
        return cls(
            user_id=user_id,
            email=_str(body, "email", required=False),
            key_id=_str(body, "key_id", required=False),
            key_prefix=_str(body, "key_prefix", required=False),
            key_name=_str(body, "key_name", required=False),
            environment=_str(body, "environment", required=False),
            scopes=tuple(scopes),
            roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
            is_admin=bool(body.get("is_admin", False)),
            expires_at=_str(body, "expires_at", required=False),
            rate_limit_per_hour=limit if isinstance(limit, int) else None,
            rate_limit_remaining=remaining if isinstance(remaining, int) else None,
            tracking_uri=_str(body, "tracking_uri", required=False),
            raw=dict(body),
        )
