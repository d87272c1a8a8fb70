"""The Avro schemas of agentflow: the single source of truth for every event and internal record.

Layout (see :mod:`processors.events.registry` for how they are loaded):

* ``common/<fullname>.avsc`` — shared named types (``agentflow.Actor``, ...), referenced by name
  from other schemas and injected at their first use when loaded.
* ``events/<event_type>.v<N>.avsc`` — one full record per event type and version: the envelope
  fields plus a typed ``payload``.
* ``internal/<name>[.v<N>].avsc`` — records agentflow writes itself (quarantine, ...).
"""

import json
import re
from pathlib import Path

SCHEMA_DIR: Path = Path(__file__).resolve().parent

_EVENT_FILE = re.compile(r"^(?P<type>[a-z][a-z0-9_.]*)\.v[1-9][0-9]*\.avsc$")


def event_types() -> frozenset[str]:
    """The event types the contract defines: the ``events/`` file names, without versions."""
    return frozenset(
        m["type"]
        for path in (SCHEMA_DIR / "events").glob("*.avsc")
        if (m := _EVENT_FILE.match(path.name)) is not None
    )


def required_payload_fields(event_type: str) -> frozenset[str]:
    """The payload fields of ``event_type``'s latest version that have no default; empty for
    an unknown type."""
    versions = sorted(
        (int(path.name.rsplit(".v", 1)[1].removesuffix(".avsc")), path)
        for path in (SCHEMA_DIR / "events").glob(f"{event_type}.v*.avsc")
        if _EVENT_FILE.match(path.name)
    )
    if not versions:
        return frozenset()
    doc = json.loads(versions[-1][1].read_text(encoding="utf-8"))
    payload = next(f for f in doc["fields"] if f["name"] == "payload")["type"]
    return frozenset(f["name"] for f in payload.get("fields", []) if "default" not in f)


__all__ = ["SCHEMA_DIR", "event_types", "required_payload_fields"]
