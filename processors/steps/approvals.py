"""What a reviewer approved, read from a step command's input, for ``high_impact`` tools.

A ``high_impact`` tool runs only in a step that an ``approval.granted`` caused. Its arguments
must be the result of the step the reviewer approved (the tool's ``approves``), with the
reviewer's changes applied: the approval's record, not whatever the step would like to send.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

APPROVAL_GRANTED = "approval.granted"


class ApprovalMismatchError(ValueError):
    """A ``high_impact`` call with no granted approval, or with arguments the reviewer did not
    approve. Permanent: a retry would not change what was approved."""

    error_class = "permanent"

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def approved_arguments(command_input: Mapping[str, str], approves: str) -> dict[str, str]:
    """The approved proposal: ``result.<approves>`` with the reviewer's ``event.changes``
    applied, as text; :class:`ApprovalMismatchError` (``approval_required``) if the command
    was not caused by a granted approval or carries no such result."""
    if command_input.get("event.type") != APPROVAL_GRANTED:
        raise ApprovalMismatchError(
            "approval_required", "a high_impact tool runs only in a step after approval.granted"
        )
    raw = command_input.get(f"result.{approves}")
    if raw is None:
        raise ApprovalMismatchError(
            "approval_required", f"the command carries no result of {approves!r} to approve"
        )
    proposal = {k: _text(v) for k, v in json.loads(raw).items() if v is not None}
    for change in json.loads(command_input.get("event.changes", "[]")):
        if change.get("new_value") is None:
            proposal.pop(change["field"], None)
        else:
            proposal[change["field"]] = change["new_value"]
    return proposal


def check_approved(arguments: Mapping[str, Any], approved: Mapping[str, str]) -> None:
    """:class:`ApprovalMismatchError` (``not_approved``) unless every argument the approval
    also names has its approved value."""
    differing = sorted(k for k, v in arguments.items() if k in approved and _text(v) != approved[k])
    if differing:
        raise ApprovalMismatchError(
            "not_approved", f"arguments {differing} differ from what the reviewer approved"
        )
