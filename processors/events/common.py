"""Pydantic models of the shared Avro types (``avro_schemas/common``) and the model base.

The models are hand-written and kept equal to the ``.avsc`` files by a unit test that compares
them field by field (``tests/unit/test_events_models.py``). Avro ``int`` and ``long`` are
:data:`Int32` and :data:`Int64`; ``long`` with ``logicalType: timestamp-millis`` is
:data:`EpochMillis` (UTC epoch milliseconds as a plain ``int``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class AvroLogicalType:
    """Annotation marker: the field's Avro type carries this ``logicalType``."""

    name: str


Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
"""An Avro ``int``."""
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""An Avro ``long``."""
EpochMillis = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX), AvroLogicalType("timestamp-millis")]
"""An Avro ``long`` / ``timestamp-millis``: milliseconds since the Unix epoch, UTC."""


class AvroModel(BaseModel):
    """Base of every event model: strict types, immutable, no unknown fields."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


ActorKind = Literal["user", "service", "system"]


class Actor(AvroModel):
    """``agentflow.Actor``: who caused an event."""

    id: str
    kind: ActorKind
    roles: list[str] = Field(default_factory=list)


class FieldChange(AvroModel):
    """``agentflow.FieldChange``: one field's value before and after a change."""

    field: str
    old_value: str | None = None
    new_value: str | None = None


ApprovalOutcome = Literal["granted", "denied"]


class ApprovalDecision(AvroModel):
    """``agentflow.ApprovalDecision``: a reviewer's answer (approval.granted/denied payload)."""

    approval_id: str
    step: str
    reviewer_id: str
    decision: ApprovalOutcome
    decided_at: EpochMillis
    changes: list[FieldChange] = Field(default_factory=list)
    comment: str | None = None


class ApprovalDecisionV2(ApprovalDecision):
    """``agentflow.ApprovalDecisionV2`` (approval.granted/denied v2): v1's fields and the hash
    of the exact proposal the reviewer was shown (:func:`processors.steps.proposal_hash`)."""

    proposal_hash: str | None = None
