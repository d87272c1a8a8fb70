"""Webhook sources: who may post, how their signature is checked, and how a body becomes an
agentflow envelope. Declared in a TOML file (``AGENTFLOW_WEBHOOKS_FILE``)::

    [sources.github]
    provider = "github"                    # github | stripe | hmac
    secret_env = "GITHUB_WEBHOOK_SECRET"   # or secret_file = "/run/secrets/github"
    tenant = "acme"
    rate_per_s = 50                        # and burst = 100 (defaults)
    select = "{header.X-GitHub-Event}"     # picks the mapping below; none matches: ignored

    [sources.github.events.issues]
    event_type = "ticket.created"
    event_id = "gh-{header.X-GitHub-Delivery}"
    workflow_id = "gh-{body.issue.number}"
    actor = { id = "{body.sender.login}", kind = "user", roles = ["customer"] }

    [sources.github.events.issues.payload]
    ticket_id = "GH-{body.issue.number}"
    subject = "{body.issue.title}"
    body = "{body.issue.body}"
    customer_id = "{body.sender.login}"

A mapping gives the envelope's fields; ``source`` is the source's name, ``tenant`` the
source's unless given, ``occurred_at`` the receipt time and ``schema_version`` the event type's
latest unless given. Without ``select``, the mapping is ``[sources.<name>.events."*"]``.
Placeholders: ``{body.<path>}`` (a JSON path, with list indexes as numbers), ``{header.<name>}``,
``{now}`` (epoch ms), ``{source}``, ``{tenant}``. A string that is a single placeholder keeps
the value's JSON type; otherwise the values are joined as text.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretBytes

from edge.providers import PROVIDERS, Provider
from processors.events import default_registry

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class WebhookConfigError(Exception):
    """The webhooks file is wrong: the message names the source and the fix."""


class MappingError(Exception):
    """A body lacks what its mapping needs; the message names the placeholder."""


@dataclass(frozen=True)
class WebhookSource:
    """One source of webhooks; see the module docstring."""

    name: str
    provider: Provider
    secret: SecretBytes
    tenant: str
    events: Mapping[str, Mapping[str, Any]]
    select: str | None = None
    header: str = "X-Signature"
    tolerance_s: float = 300.0
    rate_per_s: float = 50.0
    burst: float = 100.0
    max_body_bytes: int = field(default=1_000_000)

    def mapping_for(
        self, body: Any, headers: Mapping[str, str], now_ms: int
    ) -> Mapping[str, Any] | None:
        """The mapping that takes this request, or None (a kind of webhook not mapped)."""
        if self.select is None:
            return self.events.get("*")
        chosen = render(self.select, self._context(body, headers, now_ms))
        return self.events.get(str(chosen))

    def envelope(self, body: Any, headers: Mapping[str, str], now_ms: int,
                 mapping: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
        """The envelope ``mapping`` makes of this request. Raises :class:`MappingError`."""
        context = self._context(body, headers, now_ms)
        out: dict[str, Any] = {"source": self.name, "tenant": self.tenant, "occurred_at": now_ms}
        out.update({k: render(v, context) for k, v in mapping.items()})
        if "schema_version" not in out and isinstance(out.get("event_type"), str):
            latest = default_registry().latest(out["event_type"])
            if latest is not None:
                out["schema_version"] = latest.version
        return out

    def _context(self, body: Any, headers: Mapping[str, str], now_ms: int) -> dict[str, Any]:
        return {"body": body, "headers": headers, "now": now_ms, "source": self.name,
                "tenant": self.tenant}  # fmt: skip


def _lookup(name: str, context: Mapping[str, Any]) -> Any:
    if name in ("now", "source", "tenant"):
        return context[name]
    if name.startswith("header."):
        value = context["headers"].get(name[len("header.") :].lower())
        if value is None:
            raise MappingError(f"{{{name}}}: the request has no such header")
        return value
    if not name.startswith("body."):
        raise MappingError(f"{{{name}}}: use {{body.<path>}}, {{header.<name>}}, {{now}}, "
                           "{source} or {tenant}")  # fmt: skip
    value = context["body"]
    for part in name[len("body.") :].split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise MappingError(f"{{{name}}}: the body has no {part!r} there")
    return value


def render(template: Any, context: Mapping[str, Any]) -> Any:
    """``template`` with its placeholders filled (see the module docstring)."""
    if isinstance(template, Mapping):
        return {k: render(v, context) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, context) for v in template]
    if not isinstance(template, str):
        return template
    whole = _PLACEHOLDER.fullmatch(template)
    if whole:
        return _lookup(whole.group(1).strip(), context)

    def text(match: re.Match[str]) -> str:
        value = _lookup(match.group(1).strip(), context)
        return value if isinstance(value, str) else str(value)

    return _PLACEHOLDER.sub(text, template)


def _secret(name: str, spec: Mapping[str, Any], env: Mapping[str, str], base: Path) -> bytes:
    if "secret_env" in spec:
        value = env.get(str(spec["secret_env"]))
        if not value:
            raise WebhookConfigError(f"webhook source {name!r}: environment variable "
                                     f"{spec['secret_env']} is not set")  # fmt: skip
        return value.encode()
    if "secret_file" in spec:
        path = base / str(spec["secret_file"])
        try:
            return path.read_bytes().strip()
        except OSError as exc:
            raise WebhookConfigError(f"webhook source {name!r}: cannot read secret_file "
                                     f"{path}: {exc.strerror}") from None  # fmt: skip
    raise WebhookConfigError(f"webhook source {name!r}: give secret_env or secret_file")


def load_webhooks(path: Path, env: Mapping[str, str] | None = None) -> dict[str, WebhookSource]:
    """The sources declared in ``path``. Raises :class:`WebhookConfigError`."""
    env = os.environ if env is None else env
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise WebhookConfigError(f"cannot read the webhooks file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise WebhookConfigError(f"the webhooks file {path} is not valid TOML: {exc}") from None
    sources: dict[str, WebhookSource] = {}
    for name, spec in (doc.get("sources") or {}).items():
        provider = spec.get("provider")
        if provider not in PROVIDERS:
            raise WebhookConfigError(f"webhook source {name!r}: provider must be one of "
                                     f"{', '.join(PROVIDERS)}, not {provider!r}")  # fmt: skip
        events = spec.get("events") or {}
        if not events or not all(isinstance(m, Mapping) and "event_type" in m
                                 for m in events.values()):  # fmt: skip
            raise WebhookConfigError(f"webhook source {name!r}: give [sources.{name}.events.*] "
                                     "mappings, each with an event_type")  # fmt: skip
        if "tenant" not in spec:
            raise WebhookConfigError(f"webhook source {name!r}: give its tenant")
        sources[name] = WebhookSource(
            name=name,
            provider=provider,
            secret=SecretBytes(_secret(name, spec, env, path.parent)),
            tenant=str(spec["tenant"]),
            events=events,
            select=spec.get("select"),
            header=str(spec.get("header", "X-Signature")),
            tolerance_s=float(spec.get("tolerance_s", 300)),
            rate_per_s=float(spec.get("rate_per_s", 50)),
            burst=float(spec.get("burst", 100)),
            max_body_bytes=int(spec.get("max_body_bytes", 1_000_000)),
        )
    return sources
