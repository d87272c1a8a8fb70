"""The diff of a replay: each workflow's replayed decisions against the recorded ones.

Decisions are compared as the audit records' bytes, in order. Since every id and time in an
audit record derives from the log, an unchanged engine replays each one byte for byte; any
difference is a decision that would now be taken otherwise. One field is left out of the
comparison: ``usage``, what a step result says its model cost. A step run again (a candidate
prompt, ``--call-models``) never costs exactly the same, and that is not a different
decision; :func:`usage_totals` sums it on each side instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from msgspec.structs import replace

from processors.engine import AuditRecord

Verdict = Literal["identical", "changed", "new", "missing"]
VERDICTS: tuple[Verdict, ...] = ("identical", "changed", "new", "missing")


def decision_summary(audit: AuditRecord) -> dict[str, Any]:
    """What an audit record says was decided, for a side-by-side view."""
    transition = audit.transition
    return {
        "event_id": audit.event_id,
        "event_type": audit.event_type,
        "decision": audit.decision,
        "status_before": audit.status_before,
        "status_after": audit.status_after,
        "transition": (
            f"{transition.trigger}: {transition.from_state} -> {transition.to_state}"
            if transition is not None
            else None
        ),
        "step": transition.step if transition is not None else None,
        "commands": len(audit.commands),
        "emitted": len(audit.emitted_ids),
        "rejection_reason": audit.rejection_reason,
        "decided_at": audit.decided_at,
    }


@dataclass(frozen=True)
class Divergence:
    """The first decision of a workflow that differs: what was recorded, what replays."""

    index: int
    recorded: dict[str, Any] | None
    replayed: dict[str, Any] | None

    @property
    def event(self) -> str:
        side = self.recorded or self.replayed or {}
        return f"{side.get('event_type')} {side.get('event_id')}"

    @property
    def state_before(self) -> str | None:
        side = self.recorded or self.replayed or {}
        value = side.get("status_before")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class WorkflowDiff:
    workflow_id: str
    verdict: Verdict
    recorded: int
    replayed: int
    first: Divergence | None = None
    #: Steps the replay issued that history never ran, so it has no result for them (a
    #: candidate that takes another path): the workflow's replay stops short there.
    needs_new_step_result: tuple[str, ...] = ()
    #: Steps the replay ran again (a candidate's declarations, or ``--call-models``).
    steps_rerun: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workflow_id": self.workflow_id,
            "verdict": self.verdict,
            "recorded_decisions": self.recorded,
            "replayed_decisions": self.replayed,
            "needs_new_step_result": list(self.needs_new_step_result),
            "steps_rerun": list(self.steps_rerun),
        }
        if self.first is not None:
            out["first_divergence"] = {
                "index": self.first.index,
                "event": self.first.event,
                "state_before": self.first.state_before,
                "recorded": self.first.recorded,
                "replayed": self.first.replayed,
            }
        return out


@dataclass
class ReplayDiff:
    """Every selected workflow's diff, and the totals by verdict."""

    workflows: list[WorkflowDiff] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(w.verdict for w in self.workflows)
        return {v: counts.get(v, 0) for v in VERDICTS}

    def of(self, verdict: Verdict) -> list[WorkflowDiff]:
        return [w for w in self.workflows if w.verdict == verdict]


def _summary(value: bytes | None) -> dict[str, Any] | None:
    return decision_summary(AuditRecord.decode(value)) if value is not None else None


def same_decision(recorded: bytes | None, replayed: bytes | None) -> bool:
    """True if two audit records are equal, byte for byte or but for their ``usage``."""
    if recorded == replayed:
        return True
    if recorded is None or replayed is None:
        return False
    was, now = AuditRecord.decode(recorded), AuditRecord.decode(replayed)
    return replace(was, usage=None) == replace(now, usage=None)


def usage_totals(audits: Iterable[bytes]) -> dict[str, Any]:
    """What the step results among ``audits`` said they cost, summed."""
    totals: dict[str, Any] = {"requests": 0, "input_tokens": 0, "output_tokens": 0}
    cost = Decimal(0)
    for raw in audits:
        usage = AuditRecord.decode(raw).usage
        if usage is None:
            continue
        totals["requests"] += usage.requests
        totals["input_tokens"] += usage.input_tokens
        totals["output_tokens"] += usage.output_tokens
        cost += Decimal(usage.cost_usd or "0")
    totals["cost_usd"] = str(cost)
    return totals


def diff_workflow(
    workflow_id: str, recorded: Sequence[bytes], replayed: Sequence[bytes]
) -> WorkflowDiff:
    """The verdict on one workflow's decisions, in order."""
    if not recorded and not replayed:
        return WorkflowDiff(workflow_id, "identical", 0, 0)
    if not recorded:
        first = Divergence(0, None, _summary(replayed[0]))
        return WorkflowDiff(workflow_id, "new", 0, len(replayed), first)
    if not replayed:
        first = Divergence(0, _summary(recorded[0]), None)
        return WorkflowDiff(workflow_id, "missing", len(recorded), 0, first)
    for i in range(max(len(recorded), len(replayed))):
        was = recorded[i] if i < len(recorded) else None
        now = replayed[i] if i < len(replayed) else None
        if not same_decision(was, now):
            first = Divergence(i, _summary(was), _summary(now))
            return WorkflowDiff(workflow_id, "changed", len(recorded), len(replayed), first)
    return WorkflowDiff(workflow_id, "identical", len(recorded), len(replayed))


def diff_decisions(
    recorded: Mapping[str, Sequence[bytes]], replayed: Mapping[str, Sequence[bytes]]
) -> ReplayDiff:
    """Every workflow that has recorded or replayed decisions, sorted by id."""
    ids = sorted(set(recorded) | set(replayed))
    return ReplayDiff([diff_workflow(w, recorded.get(w, ()), replayed.get(w, ())) for w in ids])
