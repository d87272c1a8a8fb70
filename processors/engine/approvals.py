"""Approval integrity: who may answer a pending approval, for what, and when it is granted.

Checked by the engine on every ``approval.granted``/``approval.denied`` that names a pending
approval, whatever client sent it (the gate's policy checks the sender; these check the answer):

1. the event's actor is the reviewer it names and holds the approval step's role, plainly or
   for the workflow's tenant (``reviewer_not_permitted``);
2. the reviewer is not who asked: the workflow's starter, or the actor whose event led to the
   request (``self_approval``);
3. a v2 answer's ``proposal_hash`` is the pending proposal's (``stale_approval``);
4. under a quorum of N, each approver is distinct (``duplicate_approver``) and grants the same
   edits as the first (``stale_approval``). Grants before the N-th are counted (decision
   ``counted``) and the workflow keeps waiting; one denial ends it.
"""

from __future__ import annotations

from processors import reasons
from processors.engine.decision import Rejection
from processors.engine.records import AuditApproval, AuditChange
from processors.engine.state import PendingApproval
from processors.events import ApprovalDecision, ApprovalDecisionV2, Envelope, changes_text


def approval_refusal(
    event: Envelope, answer: ApprovalDecision, approval: PendingApproval
) -> Rejection | None:
    """Why ``event`` may not answer ``approval`` (checks 1-4 above), or None if it may."""
    actor = event.actor
    if answer.reviewer_id != actor.id:
        detail = f"reviewer {answer.reviewer_id!r} is not the event's actor {actor.id!r}"
        return Rejection(reasons.REVIEWER_NOT_PERMITTED, detail)
    role = approval.required_role
    if role not in actor.roles and f"{event.tenant}:{role}" not in actor.roles:
        detail = f"{actor.id!r} lacks role {role!r} needed to answer {approval.step!r}"
        return Rejection(reasons.REVIEWER_NOT_PERMITTED, detail)
    if actor.id in approval.requested_by:
        detail = f"{actor.id!r} asked for this approval of {approval.step!r} and may not decide it"
        return Rejection(reasons.SELF_APPROVAL, detail)
    shown = answer.proposal_hash if isinstance(answer, ApprovalDecisionV2) else None
    if shown is not None and shown != approval.proposal_hash:
        pending = (approval.proposal_hash or "?")[:12]
        detail = f"the answer is for proposal {shown[:12]}, the pending one is {pending}: " \
            "show the reviewer the current proposal"  # fmt: skip
        return Rejection(reasons.STALE_APPROVAL, detail)
    if answer.decision == "granted" and approval.quorum > 1:
        if actor.id in approval.granted_by:
            detail = f"{actor.id!r} already granted {approval.step!r}; it needs " \
                f"{approval.quorum} distinct approvers"  # fmt: skip
            return Rejection(reasons.DUPLICATE_APPROVER, detail)
        edits = changes_text(answer.changes)
        if approval.granted_by and edits != approval.granted_changes:
            detail = f"the edits differ from those {approval.granted_by[0]!r} granted: a " \
                "quorum grants one version of the proposal"  # fmt: skip
            return Rejection(reasons.STALE_APPROVAL, detail)
    return None


def audited(answer: ApprovalDecision, approval: PendingApproval) -> AuditApproval:
    """What the audit record of a decision on ``answer`` shows: the proposal as it was shown
    and the reviewer's changes, so both versions are on record."""
    changes = tuple(
        AuditChange(field=c.field, old_value=c.old_value, new_value=c.new_value)
        for c in answer.changes
    )
    return AuditApproval(approval_id=approval.approval_id, proposal=dict(approval.proposal),
                         changes=changes, proposal_hash=approval.proposal_hash)  # fmt: skip


def counts_toward_quorum(answer: ApprovalDecision, approval: PendingApproval) -> bool:
    """True if ``answer`` is a grant that leaves the quorum still unmet: it is counted, and
    the workflow keeps waiting. Call after :func:`approval_refusal` found nothing."""
    return answer.decision == "granted" and len(approval.granted_by) + 1 < approval.quorum


def count_grant(event: Envelope, answer: ApprovalDecision, approval: PendingApproval) -> None:
    """Record a grant under the quorum: its approver and, the first time, its edits."""
    if not approval.granted_by:
        approval.granted_changes = changes_text(answer.changes)
    approval.granted_by = (*approval.granted_by, event.actor.id)
