"""The Avro schemas of agentflow: the single source of truth for every event and internal record.

Layout (see :mod:`processors.events.registry` for how they are loaded):

* ``common/<fullname>.avsc`` — shared named types (``agentflow.Actor``, ...), referenced by name
  from other schemas and injected at their first use when loaded.
* ``events/<event_type>.v<N>.avsc`` — one full record per event type and version: the envelope
  fields plus a typed ``payload``.
* ``internal/<name>[.v<N>].avsc`` — records agentflow writes itself (quarantine, ...).
"""

from pathlib import Path

SCHEMA_DIR: Path = Path(__file__).resolve().parent

__all__ = ["SCHEMA_DIR"]
