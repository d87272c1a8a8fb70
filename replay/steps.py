"""Re-running steps in a replay: where a candidate's step answers come from.

By default a replay takes every step result from the log: no model and no tool is called.
Given :class:`StepReruns`, it runs some step commands again with a :data:`StepRerun` (the CLI
builds one over the agent runtime's executor, with the candidate's step declarations):

- a command of a step in ``changed`` (a candidate declaration) is run again. If history has
  a result for it, the fresh answer takes that result's place in the log, decided at the time
  the recorded one was; if not, it is decided right after the command was issued.
- with ``new_commands``, so is any command history never issued (a candidate that takes
  another path), right after it is issued.

A rerun that cannot run (a model step without ``--call-models``) returns None: the recorded
result, if any, is kept, and the workflow is reported as needing a new step result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from processors.contract import Emit, Record
from processors.engine.records import StepCommand, decode_step_command
from processors.events import (
    EventDecodeError,
    StepCompletedPayloadV1,
    StepFailedPayloadV1,
    decode,
    workflow_event_headers,
)
from processors.roles import STEPS_ROLE

StepRerun = Callable[[StepCommand, int], bytes | None]
"""Runs ``command`` as decided at ``at_ms``; the encoded ``step.completed``/``step.failed``
(as on workflow-events), or None if this step may not run in the replay."""


@dataclass(frozen=True)
class StepReruns:
    """Which step commands a replay runs again, and how; see the module docstring."""

    run: StepRerun
    changed: frozenset[str] = frozenset()
    new_commands: bool = False

    def reruns(self, step: str, issued_by_history: bool) -> bool:
        """True if a command of ``step`` is run again rather than answered from the log."""
        return step in self.changed or (self.new_commands and not issued_by_history)


def step_result_command(value: bytes | None) -> str | None:
    """The command id a workflow-events record answers, if it is a step result."""
    # The event type is plain text in the Avro body: decode only what may be a result.
    if value is None or b"step." not in value:
        return None
    try:
        payload = getattr(decode(value), "payload", None)
    except EventDecodeError:
        return None
    if isinstance(payload, StepCompletedPayloadV1 | StepFailedPayloadV1):
        return payload.command_id
    return None


class StepBook:
    """The step commands of one replay: which the log answers, which the replay issued, and
    the fresh answers of those it runs again (see the module docstring)."""

    def __init__(
        self, reruns: StepReruns | None, history_commands: Callable[[str], set[str]]
    ) -> None:
        self.reruns = reruns
        self.history_commands = history_commands
        #: Per workflow: the commands the replay issued (id -> step).
        self.issued: dict[str, dict[str, str]] = defaultdict(dict)
        self.answered: set[str] = set()
        # Per workflow: the issued commands not answered yet, as their ids' bytes. A step
        # result names its command id in its body, so only a record holding one of those is
        # decoded to find out (decoding every step result again cost a tenth of a replay).
        self._open: dict[bytes, set[bytes]] = defaultdict(set)
        #: Per workflow: steps run again, and steps whose recorded result had to be kept.
        self.rerun: dict[str, list[str]] = defaultdict(list)
        self.kept: dict[str, set[str]] = defaultdict(set)
        self._pending: dict[str, StepCommand] = {}

    def before(self, record: Record, at_ms: int) -> Record:
        """``record`` as the replay feeds it: a step result of a command run again is
        replaced by the fresh answer."""
        waiting = self._open.get(record.key or b"")
        value = record.value
        if not waiting or value is None or not any(cid in value for cid in waiting):
            return record
        command_id = step_result_command(value)
        if command_id is None:
            return record
        self.answered.add(command_id)
        waiting.discard(command_id.encode())
        command = self._pending.pop(command_id, None)
        if command is None or self.reruns is None:
            return record
        fresh = self.reruns.run(command, at_ms)
        if fresh is None:
            self.kept[command.workflow_id].add(command.step)
            return record
        self.rerun[command.workflow_id].append(command.step)
        return replace(record, value=fresh)

    def after(self, record: Record, emits: Sequence[Emit], at_ms: int) -> list[Record]:
        """Note the commands in ``emits``; the fresh answers to feed now, for those run
        again that history never issued."""
        fresh: list[Record] = []
        for emit in emits:
            if emit.role != STEPS_ROLE or emit.key is None or emit.value is None:
                continue
            headers = dict(emit.headers)
            command_id, step = headers.get("af-command-id"), headers.get("af-step")
            if command_id is None or step is None:
                continue
            cid, name, wf = command_id.decode(), step.decode(), emit.key.decode()
            self.issued[wf][cid] = name
            self._open[emit.key].add(command_id)
            if self.reruns is None:
                continue
            in_history = cid in self.history_commands(wf)
            if not self.reruns.reruns(name, in_history):
                continue
            command = decode_step_command(emit.value)
            if in_history:
                self._pending[cid] = command  # answered where history's result is
                continue
            value = self.reruns.run(command, at_ms)
            if value is None:
                continue  # unanswered: the workflow needs a new step result
            self.answered.add(cid)
            self._open[emit.key].discard(command_id)
            self.rerun[command.workflow_id].append(name)
            headers_out = workflow_event_headers(at_ms)
            fresh.append(replace(record, value=value, headers=headers_out))
        return fresh

    def needs_new_result(self, workflow_id: str) -> tuple[str, ...]:
        """Steps of ``workflow_id`` the replay needed an answer for and had none: issued
        and never answered, or run again and unable to run."""
        unanswered = {
            command: step
            for command, step in self.issued.get(workflow_id, {}).items()
            if command not in self.answered
        }
        if unanswered:  # history may have issued them and be waiting for their results
            recorded = self.history_commands(workflow_id)
            unanswered = {c: s for c, s in unanswered.items() if c not in recorded}
        return tuple(sorted(set(unanswered.values()) | self.kept.get(workflow_id, set())))
