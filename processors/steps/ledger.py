"""The side-effect ledger's rules: its table, its keys, and what a recorded entry means.

Every ``write`` or ``high_impact`` tool call gets an idempotency key from the workflow id, the
step's logical id (the same on every attempt and redelivery, see
:func:`processors.engine.ids.step_id`) and the call's index within the step. The runner
records an *intent* before the call and the *outcome* after it, in the ``step_ledger`` table,
whose writes commit in the same Kafka transaction as the step's result. What a recorded entry
means for the next call with that key is decided here:

- no entry: make the call;
- an outcome: return it, do not call again;
- an intent without an outcome (the runner died, or the call failed, after the intent was
  made durable): reconcile, by asking the tool what happened to that key, or by calling again
  with the same key for the external system to deduplicate.

The same table remembers which commands are finished (``done/<command id>``) past the lowest
unfinished offset, so a command redelivered after a crash is not run twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from processors.codecs import JsonCodec
from processors.contract import TableSpec

LEDGER_TABLE: Final = "step_ledger"
#: The runner's table: call entries by idempotency key, and finished-command markers.
LEDGER: Final = TableSpec(LEDGER_TABLE, JsonCodec())

LedgerAction = Literal["call", "replay", "reconcile"]


class LedgerConflictError(ValueError):
    """A call reuses an idempotency key for another tool or other arguments: the step is not
    deterministic where it has side effects. It fails for good rather than risk a second,
    different effect under a key whose first effect may have happened."""

    error_class: Final = "permanent"
    error_type: Final = "ledger_conflict"


def idempotency_key(workflow_id: str, step_id: str, call_index: int) -> str:
    """The key of the ``call_index``-th side-effecting call (from 0) of a step."""
    return f"{workflow_id}/{step_id}/{call_index}"


def call_key(key: str) -> bytes:
    """The ledger table key of a call's entry."""
    return b"call/" + key.encode()


def done_key(command_id: str) -> bytes:
    """The ledger table key marking command ``command_id`` as finished."""
    return b"done/" + command_id.encode()


def arguments_digest(args: Mapping[str, Any]) -> str:
    """A stable digest of a call's arguments (canonical JSON, sorted keys)."""
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def intent_entry(tool: str, args: Mapping[str, Any], at_ms: int) -> dict[str, Any]:
    """The entry recorded before a call is made."""
    return {"tool": tool, "args_digest": arguments_digest(args), "intent_at": at_ms}


def outcome_entry(
    intent: Mapping[str, Any], outcome: Mapping[str, Any], at_ms: int
) -> dict[str, Any]:
    """The entry recorded after the call returned ``outcome``."""
    return {**intent, "outcome": dict(outcome), "outcome_at": at_ms}


def next_action(
    entry: Mapping[str, Any] | None, tool: str, args: Mapping[str, Any]
) -> LedgerAction:
    """What to do about a call, given its key's entry; :class:`LedgerConflictError` if the
    entry records another tool or other arguments."""
    if entry is None:
        return "call"
    if entry.get("tool") != tool or entry.get("args_digest") != arguments_digest(args):
        raise LedgerConflictError(
            f"idempotency key already used by {entry.get('tool')} with other arguments; "
            f"refusing a different {tool} call under it"
        )
    return "replay" if "outcome" in entry else "reconcile"
