"""The event envelope: the fields every event schema shares, and the typed payload.

Concrete event classes (:mod:`processors.events.catalog`) subclass :class:`Envelope`, fix
``event_type`` and ``schema_version`` to literals with defaults, and narrow ``payload``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from processors.events.common import Actor, AvroModel, EpochMillis, Int32

NonEmptyStr = Annotated[str, Field(min_length=1)]
"""A string that must not be empty."""
KeyStr = Annotated[str, Field(min_length=1, pattern=r"^[^\n]+$")]
"""A non-empty string without newlines; usable as a signed Kafka key."""


class Envelope(AvroModel):
    """Base of all events. Use a concrete subclass, e.g. ``TicketCreatedV1``.

    ``occurred_at`` is UTC epoch milliseconds. ``workflow_id`` is the correlation id and the
    Kafka record key (see :attr:`key`). ``causation_id`` is the ``event_id`` of the event that
    caused this one, if any.
    """

    event_id: NonEmptyStr
    event_type: str
    schema_version: Int32
    occurred_at: EpochMillis
    source: NonEmptyStr
    tenant: NonEmptyStr
    actor: Actor
    workflow_id: KeyStr
    causation_id: str | None = None
    payload: AvroModel

    @property
    def key(self) -> bytes:
        """The Kafka record key: ``workflow_id`` as UTF-8."""
        return self.workflow_id.encode("utf-8")

    @classmethod
    def schema_key(cls) -> tuple[str, int]:
        """``(event_type, schema_version)`` of this class (its literal defaults)."""
        event_type = cls.model_fields["event_type"].default
        version = cls.model_fields["schema_version"].default
        if not isinstance(event_type, str) or not isinstance(version, int):
            raise TypeError(f"{cls.__name__} is not a concrete event class")
        return event_type, version
