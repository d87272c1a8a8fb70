"""The gate's policy: which sources speak for which tenants, who may emit what, how old an
event may be, and how big. Declarative data, validated when it is loaded.

A policy is plain JSON (the host reads the file; this module reads nothing)::

    {
      "version": "2026-11",
      "sources": {
        "helpdesk": {"tenants": ["acme", "globex"], "event_types": ["ticket.*", "customer.*"]},
        "approvals-ui": {"tenants": ["*"], "event_types": ["approval.*"]}
      },
      "permissions": [
        {"event_types": ["approval.granted", "approval.denied"], "roles": ["approver"]}
      ],
      "freshness": {"default_max_age_ms": 604800000, "max_future_skew_ms": 60000,
                    "max_age_ms": {"alert.*": 3600000}},
      "sizes": {"max_key_bytes": 256, "max_value_bytes": 262144},
      "revoked_key_ids": ["helpdesk-2025"]
    }

Patterns are exact names or a prefix ending in ``*`` (``"approval.*"``, ``"*"``). A role in a
permission rule is satisfied by the actor holding it plainly (``approver``) or for the event's
tenant (``acme:approver``); a role for another tenant does not count.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DAY_MS = 86_400_000


def matches(pattern: str, name: str) -> bool:
    """``pattern`` is an exact name, or a prefix followed by ``*``."""
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def matches_any(patterns: Iterable[str], name: str) -> bool:
    return any(matches(p, name) for p in patterns)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourcePolicy(_Strict):
    """What one source system may send: for which tenants, which event types."""

    tenants: tuple[str, ...] = Field(min_length=1)
    event_types: tuple[str, ...] = ("*",)


class PermissionRule(_Strict):
    """Actors emitting a matching event type must hold one of ``roles`` (if any) and be of one
    of ``kinds`` (if any)."""

    event_types: tuple[str, ...] = Field(min_length=1)
    roles: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(v) - {"user", "service", "system"}
        if unknown:
            raise ValueError(f"unknown actor kinds {sorted(unknown)}; use user, service, system")
        return v


class FreshnessPolicy(_Strict):
    default_max_age_ms: int = Field(default=7 * DAY_MS, gt=0)
    max_age_ms: dict[str, int] = Field(default_factory=dict)
    max_future_skew_ms: int = Field(default=60_000, ge=0)

    def max_age_for(self, event_type: str) -> int:
        """The most specific matching rule wins (exact name over the longest prefix)."""
        best: tuple[int, int] | None = None
        for pattern, age in self.max_age_ms.items():
            if matches(pattern, event_type):
                rank = 10_000 if not pattern.endswith("*") else len(pattern)
                if best is None or rank > best[0]:
                    best = (rank, age)
        return best[1] if best else self.default_max_age_ms


class SizePolicy(_Strict):
    max_key_bytes: int = Field(default=256, gt=0)
    max_value_bytes: int = Field(default=256 * 1024, gt=0)
    max_headers: int = Field(default=32, ge=0)
    max_header_bytes: int = Field(default=8 * 1024, ge=0)


class GatePolicy(_Strict):
    """The whole policy. Build it with :func:`load_policy` to get one clear error."""

    version: str = "1"
    sources: dict[str, SourcePolicy] = Field(min_length=1)
    permissions: tuple[PermissionRule, ...] = ()
    freshness: FreshnessPolicy = FreshnessPolicy()
    sizes: SizePolicy = SizePolicy()
    # Key ids refused even when their secret is still configured (rotation, compromise).
    revoked_key_ids: tuple[str, ...] = ()

    def source_allows_tenant(self, source: str, tenant: str) -> bool:
        sp = self.sources.get(source)
        return sp is not None and ("*" in sp.tenants or tenant in sp.tenants)

    def source_allows_type(self, source: str, event_type: str) -> bool:
        sp = self.sources.get(source)
        return sp is not None and matches_any(sp.event_types, event_type)

    def actor_permitted(
        self, event_type: str, tenant: str, kind: str, roles: Iterable[str]
    ) -> bool:
        held = set(roles)
        for rule in self.permissions:
            if not matches_any(rule.event_types, event_type):
                continue
            if rule.kinds and kind not in rule.kinds:
                return False
            if rule.roles and not any(r in held or f"{tenant}:{r}" in held for r in rule.roles):
                return False
        return True


class PolicyError(ValueError):
    """The policy is not valid; the message says where."""


def load_policy(data: object) -> GatePolicy:
    """Validate ``data`` (parsed JSON) as a :class:`GatePolicy`."""
    try:
        return GatePolicy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise PolicyError(f"invalid gate policy: {problems}") from None
