"""What a trace span of the worker says about the decisions on one record, read from the
records they emitted: the workflow, the event, the decision, the transition, the commands
issued and every reason code (a quarantine's, a rejection's). The host calls it only for a
sampled record, so decoding the audit records costs nothing otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from processors.contract import Emit
from processors.engine.records import AUDIT_RECORD
from processors.events import decode_record
from processors.events.errors import EventDecodeError
from processors.roles import AUDIT_ROLE, QUARANTINE_ROLE, STEPS_ROLE

Facts = dict[str, str | int | Sequence[str]]


def span_facts(emits: Sequence[Emit]) -> Facts:
    """Span attributes (``agentflow.*``) for the decisions that produced ``emits``."""
    facts: Facts = {}
    reasons: list[str] = []
    decisions: list[str] = []
    for emit in emits:
        if emit.role == QUARANTINE_ROLE and emit.tag:
            reasons.append(emit.tag)
        elif emit.role == AUDIT_ROLE and emit.value is not None:
            try:  # the Avro datum, not the model: a third of the cost
                name, audit = decode_record(emit.value)
            except EventDecodeError:
                continue
            if name != AUDIT_RECORD:  # another processor's audit format: no facts from it
                continue
            decisions.append(audit["decision"])
            facts["agentflow.workflow_id"] = audit["workflow_id"]
            facts["agentflow.event_id"] = audit["event_id"]
            facts["agentflow.event_type"] = audit["event_type"]
            if audit.get("tenant"):
                facts["agentflow.tenant"] = audit["tenant"]
            t = audit.get("transition")
            if t:
                facts["agentflow.transition"] = (
                    f"{t['trigger']}: {t['from_state']} -> {t['to_state']}"
                )
            if audit.get("status_after"):
                facts["agentflow.status"] = audit["status_after"]
            if audit.get("rejection_reason"):
                reasons.append(audit["rejection_reason"])
    commands = sum(1 for e in emits if e.role == STEPS_ROLE)
    if decisions:
        facts["agentflow.decisions"] = decisions
    if commands:
        facts["agentflow.commands"] = commands
    if reasons:
        facts["agentflow.reason_codes"] = reasons
    facts["agentflow.emitted"] = [e.role for e in emits]
    return facts
