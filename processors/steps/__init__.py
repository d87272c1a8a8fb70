"""The pure part of running a step: scoping its view, rendering its instructions, validating
its output, and the ``step.completed`` / ``step.failed`` event that answers its command.

Every step runner uses these, so a command gets the same answer (and the same event id) from
whichever runner answers it, however often it is redelivered.
"""

from processors.steps.answers import (
    STEP_SOURCE,
    InvalidOutputError,
    completed_event,
    failed_event,
    result_event_id,
    validated_output,
)
from processors.steps.approvals import ApprovalMismatchError, approved_arguments, check_approved
from processors.steps.ledger import (
    LEDGER,
    LEDGER_TABLE,
    LedgerConflictError,
    call_key,
    done_key,
    idempotency_key,
    intent_entry,
    next_action,
    outcome_entry,
)
from processors.steps.view import render_instructions, scoped_view

__all__ = [
    "LEDGER",
    "LEDGER_TABLE",
    "STEP_SOURCE",
    "ApprovalMismatchError",
    "InvalidOutputError",
    "LedgerConflictError",
    "approved_arguments",
    "call_key",
    "check_approved",
    "completed_event",
    "done_key",
    "failed_event",
    "idempotency_key",
    "intent_entry",
    "next_action",
    "outcome_entry",
    "render_instructions",
    "result_event_id",
    "scoped_view",
    "validated_output",
]
