"""The approval inbox's read model: table ``approvals``, one entry per pending approval.

The engine keeps it beside the workflow states, written only when a workflow's pending
approvals change (requested, counted toward a quorum, decided, or dropped when the workflow
leaves the state). Its changelog is what ``agentflow serve``'s inbox reads, so a reviewer's
page load never scans workflow states. Keys are ``<tenant>/<approval id>``, so an inbox reads
a tenant's approvals as one key range.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from processors.codecs import JsonCodec
from processors.contract import Delete, Put, TableSpec
from processors.engine.state import PendingApproval, WorkflowState, as_plain

APPROVALS: Final = "approvals"
APPROVALS_TABLE: Final = TableSpec(APPROVALS, JsonCodec())
#: Transitions of the workflow's history shown with an approval.
TIMELINE: Final = 20


def inbox_key(tenant: str, approval_id: str) -> bytes:
    return f"{tenant}/{approval_id}".encode()


#: An approval's snapshot: its msgpack encoding. Equal approvals encode to equal bytes (the
#: engine's copies keep their maps' order), and encoding costs a microsecond where a plain-data
#: copy cost twenty.
_snapshot: Final = msgspec.msgpack.Encoder().encode


def pending_snapshot(state: WorkflowState | None) -> dict[str, bytes]:
    """The workflow's pending approvals, as they are before the engine edits its copy."""
    if state is None or not state.pending_approvals:
        return {}
    return {a.approval_id: _snapshot(a) for a in state.pending_approvals}


def inbox_entry(state: WorkflowState, approval: PendingApproval) -> dict[str, Any]:
    """What a reviewer sees of ``approval``: the request, and the workflow's recent timeline."""
    timeline = [
        {"trigger": h.trigger, "from": h.from_state, "to": h.to_state, "at": h.at}
        for h in state.history[-TIMELINE:]
    ]
    return {
        **as_plain(approval),
        "workflow_id": state.workflow_id,
        "tenant": state.tenant,
        "definition": state.definition_name,
        "started_by": state.started_by,
        "timeline": timeline,
    }


def inbox_writes(
    tenant: str | None,
    before: dict[str, bytes],
    after: WorkflowState | None,
) -> list[Put | Delete]:
    """Puts for the approvals now pending that are new or changed, deletes for those gone."""
    if tenant is None:
        return []
    now = {a.approval_id: a for a in after.pending_approvals} if after is not None else {}
    writes: list[Put | Delete] = [
        Delete(APPROVALS, inbox_key(tenant, gone)) for gone in before if gone not in now
    ]
    for approval_id, approval in now.items():
        if before.get(approval_id) != _snapshot(approval):
            assert after is not None
            writes.append(Put(APPROVALS, inbox_key(tenant, approval_id),
                              inbox_entry(after, approval)))  # fmt: skip
    return writes
