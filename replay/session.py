"""A dry-run replay: history through the processors over a shadow state, diffed against audit.

It reads the workflow-events topic up to its end at the start, feeds the selected workflows'
records to a :class:`~replay.shadow.ShadowRun` of the given processors (the live ones, or a
candidate's), and compares each workflow's replayed audit records with those on the audit
topic. Nothing is produced to any topic.

A window (``from_ms``/``to_ms``, on the time each event was decided at) selects which
decisions are compared. Every earlier event of a selected workflow is still replayed, so a
window in mid-history starts from the workflow's own state as its history built it, never
from live state; events after the window are not read into it.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from processors.contract import Emit, Processor, Record
from processors.deployment import Deployment
from processors.engine import AuditRecord
from processors.events import decided_at
from processors.roles import AUDIT_ROLE, EVENTS_ROLE
from replay.diff import ReplayDiff, WorkflowDiff, diff_decisions, usage_totals
from replay.reader import Offsets, ReplayError, read_records, topic_ends
from replay.shadow import ShadowRun
from replay.steps import StepBook, StepReruns

#: Progress: (records read, records to read at most).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Selection:
    """What to replay. Empty filters select everything; a workflow is selected when any of
    its decisions in the window matches the tenant, definition and event type given.

    The window is given by decision times (``from_ms``/``to_ms``), by offsets of the
    workflow-events topic (``from_offsets``/``to_offsets``, both inclusive), or both."""

    workflow_ids: frozenset[str] = frozenset()
    tenant: str | None = None
    definition: str | None = None
    event_type: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    from_offsets: Offsets | None = None
    to_offsets: Offsets | None = None

    def __post_init__(self) -> None:
        if self.from_ms is not None and self.to_ms is not None and self.to_ms < self.from_ms:
            raise ReplayError("--to is before --from: give a window that ends after it starts")
        low, high = self.from_offsets, self.to_offsets
        if low is not None and high is not None:
            for p in set(low.by_partition) | set(high.by_partition) | {-1}:
                start, end = low.get(p), high.get(p)
                if start is not None and end is not None and end < start:
                    where = "" if p < 0 else f" on partition {p}"
                    raise ReplayError(
                        f"--to is before --from{where}: give offsets that end after they start"
                    )

    @property
    def by_offsets(self) -> bool:
        return self.from_offsets is not None or self.to_offsets is not None

    def in_window(self, at_ms: int) -> bool:
        return (self.from_ms is None or at_ms >= self.from_ms) and (
            self.to_ms is None or at_ms <= self.to_ms
        )

    def before(self, partition: int, offset: int) -> bool:
        """True if the record at ``offset`` of ``partition`` comes before the offset window."""
        start = self.from_offsets.get(partition) if self.from_offsets is not None else None
        return start is not None and offset < start

    def after(self, partition: int, offset: int, at_ms: int) -> bool:
        """True if the record comes after the window (by time or by offset)."""
        end = self.to_offsets.get(partition) if self.to_offsets is not None else None
        return (self.to_ms is not None and at_ms > self.to_ms) or (end is not None and offset > end)

    def matches(self, audits: Sequence[AuditRecord]) -> bool:
        """True if the workflow with these decisions (in the window) is selected."""
        if not (self.tenant or self.definition or self.event_type):
            return True
        return any(
            (self.tenant is None or a.tenant == self.tenant)
            and (self.definition is None or a.definition_name == self.definition)
            and (self.event_type is None or a.event_type == self.event_type)
            for a in audits
        )


@dataclass
class ReplayResult:
    diff: ReplayDiff
    events_read: int = 0
    events_replayed: int = 0
    events_in_window: int = 0
    steps_rerun: int = 0
    #: What the compared step results cost, recorded and replayed (see replay.diff).
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions_recorded: int = 0
    decisions_replayed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    topics: dict[str, str] = field(default_factory=dict)

    @property
    def needs_new_step_result(self) -> list[str]:
        """Workflows whose replay issued a step history has no result for."""
        return [w.workflow_id for w in self.diff.workflows if w.needs_new_step_result]

    def as_dict(self) -> dict[str, Any]:
        return {
            "totals": self.diff.totals,
            "needs_new_step_result": self.needs_new_step_result,
            "events_read": self.events_read,
            "events_replayed": self.events_replayed,
            "events_in_window": self.events_in_window,
            "steps_rerun": self.steps_rerun,
            "usage": self.usage,
            "decisions_recorded": self.decisions_recorded,
            "decisions_replayed": self.decisions_replayed,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "topics": self.topics,
            "workflows": [w.as_dict() for w in self.diff.workflows],
        }


class _Background(threading.Thread):
    """A call in a thread of its own, whose exception :meth:`join` raises in the caller."""

    def __init__(self, call: Callable[..., None], *args: Any) -> None:
        super().__init__(name="replay-audit-reader", daemon=True)
        self._call, self._args = call, args
        self._error: Exception | None = None

    def run(self) -> None:
        try:
            self._call(*self._args)
        except Exception as exc:  # handed to the caller by join()
            self._error = exc

    def join(self, timeout: float | None = None) -> None:
        if self.is_alive():
            super().join(timeout)
        if self._error is not None:
            raise self._error


class Replay:
    """One dry-run replay; see the module docstring."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        deployment: Deployment,
        processors: Sequence[Processor],
        selection: Selection = Selection(),
        progress: Progress | None = None,
        reruns: StepReruns | None = None,
    ) -> None:
        self.config = dict(client_config)
        self.deployment = deployment
        self.processors = list(processors)
        self.selection = selection
        self.progress = progress
        self._recorded_raw: dict[str, list[bytes]] = defaultdict(list)
        self._replayed_raw: dict[str, list[bytes]] = defaultdict(list)
        # Every recorded decision of the selected workflows, before the window is applied;
        # decoded only where something needs a field (a window, a filter, a step question).
        self._history: dict[str, list[bytes]] = defaultdict(list)
        self._decoded: dict[bytes, AuditRecord] = {}
        self.reruns = reruns
        self.steps = StepBook(reruns, self._history_commands)
        # With an offset window: each workflow's first and last selected event times.
        self._spans: dict[str, tuple[int, int]] = {}
        #: Every emit of the replay, per workflow, in order, when ``keep_emits`` (a backfill).
        self.keep_emits = False
        self.emits: dict[str, list[Emit]] = defaultdict(list)

    def recorded_audits(self, workflow_id: str) -> list[bytes]:
        """The workflow's audit records on the audit topic (in the window), as bytes."""
        return list(self._recorded_raw.get(workflow_id, ()))

    def run(self, then: Callable[[ReplayResult, ShadowRun], None] | None = None) -> ReplayResult:
        """Replay, diff and return the result; a Ctrl-C stops reading and diffs what was
        replayed so far (``interrupted``). ``then`` is called with the result while the
        shadow state is still open (a backfill reads the replayed states from it)."""
        started = time.monotonic()
        events_topic = self.deployment.topic(EVENTS_ROLE)
        audit_topic = self.deployment.topic(AUDIT_ROLE)
        events_ends = topic_ends(self.config, events_topic)
        audit_ends = topic_ends(self.config, audit_topic)
        result = ReplayResult(ReplayDiff(), topics={"events": events_topic, "audit": audit_topic})
        history = _Background(self._load_history, audit_ends)
        with ShadowRun(self.processors, self.deployment) as shadow:
            try:
                if self.reruns is not None:
                    history.run()  # first: which commands it issued decides what runs again
                else:
                    history.start()  # beside the replay, which needs it only for the diff
                self._replay(shadow, events_ends, result)
            except KeyboardInterrupt:
                result.interrupted = True
            history.join()
            if self._windowed and not result.events_in_window and not result.interrupted:
                raise ReplayError(
                    f"the window selects none of the {result.events_read:,} events of "
                    f"{events_topic}: widen --from/--to (or check the workflow filter)"
                )
            self._select_recorded()
            result.steps_rerun = sum(len(v) for v in self.steps.rerun.values())
            result.diff = self._diff(result)
            result.seconds = time.monotonic() - started
            if then is not None and not result.interrupted:
                then(result, shadow)
        return result

    @property
    def _windowed(self) -> bool:
        s = self.selection
        return s.by_offsets or s.from_ms is not None or s.to_ms is not None

    def _wanted(self, key: bytes | None) -> bool:
        ids = self.selection.workflow_ids
        return not ids or (key is not None and key.decode(errors="replace") in ids)

    def _replay(self, shadow: ShadowRun, ends: Any, result: ReplayResult) -> None:
        total = ends.records
        for record in read_records(self.config, ends, EVENTS_ROLE):
            result.events_read += 1
            if self.progress is not None and result.events_read % 500 == 0:
                self.progress(result.events_read, total)
            if not self._wanted(record.key):
                continue
            at = decided_at(record.headers) or record.timestamp_ms
            if self.selection.after(record.partition, record.offset, at):
                continue  # after the window: not part of this replay
            in_window = self.selection.in_window(at) and not self.selection.before(
                record.partition, record.offset
            )
            queue = [self.steps.before(record, at)]
            while queue:  # the record, then any fresh step answers it calls for
                fed = queue.pop(0)
                emits = shadow.feed(fed)
                queue.extend(self.steps.after(fed, emits, at))
                if in_window:  # else it builds the state, it is not compared
                    self._keep(fed, emits)
            result.events_replayed += 1
            if in_window:
                result.events_in_window += 1
                if self.selection.by_offsets and record.key is not None:
                    self._note_span(record.key.decode(), at)
        if self.progress is not None:
            self.progress(result.events_read, total)

    def _note_span(self, workflow_id: str, at_ms: int) -> None:
        """An offset window compares a workflow's decisions made from its first selected
        event's time to its last's: an audit record names no offset."""
        low, high = self._spans.get(workflow_id, (at_ms, at_ms))
        self._spans[workflow_id] = (min(low, at_ms), max(high, at_ms))

    def _compared(self, workflow_id: str, at_ms: int) -> bool:
        """True if a recorded decision of ``workflow_id`` at ``at_ms`` is in the window."""
        if not self.selection.in_window(at_ms):
            return False
        if not self.selection.by_offsets:
            return True
        span = self._spans.get(workflow_id)
        return span is not None and span[0] <= at_ms <= span[1]

    def _keep(self, record: Record, emits: Sequence[Emit]) -> None:
        """Keep what the replay decided on an event in the window."""
        if self.keep_emits and record.key is not None:
            self.emits[record.key.decode()].extend(emits)
        for emit in emits:
            if emit.role == AUDIT_ROLE and emit.key is not None and emit.value:
                self._replayed_raw[emit.key.decode()].append(emit.value)

    def _load_history(self, ends: Any) -> None:
        for record in read_records(self.config, ends, AUDIT_ROLE):
            if self._wanted(record.key) and record.value and record.key is not None:
                self._history[record.key.decode()].append(record.value)

    def _audit(self, raw: bytes) -> AuditRecord:
        audit = self._decoded.get(raw)
        if audit is None:
            audit = self._decoded[raw] = AuditRecord.decode(raw)
        return audit

    def _history_commands(self, workflow_id: str) -> set[str]:
        """The step commands history issued for ``workflow_id``."""
        return {c for raw in self._history.get(workflow_id, ()) for c in self._audit(raw).commands}

    def _decisions(self, workflow_id: str) -> list[AuditRecord]:
        """The workflow's compared decisions: recorded ones, else (a new one) replayed ones."""
        raw = self._recorded_raw.get(workflow_id) or self._replayed_raw.get(workflow_id) or []
        return [self._audit(v) for v in raw]

    def _select_recorded(self) -> None:
        for wf, decisions in self._history.items():
            if not self._windowed:
                self._recorded_raw[wf] = decisions
                continue
            for raw in decisions:
                if self._compared(wf, self._audit(raw).decided_at):
                    self._recorded_raw[wf].append(raw)

    def _diff(self, result: ReplayResult) -> ReplayDiff:
        chosen = set(self._recorded_raw) | set(self._replayed_raw)
        if self.selection.tenant or self.selection.definition or self.selection.event_type:
            chosen = {wf for wf in chosen if self.selection.matches(self._decisions(wf))}
        recorded = {wf: v for wf, v in self._recorded_raw.items() if wf in chosen}
        replayed = {wf: v for wf, v in self._replayed_raw.items() if wf in chosen}
        result.decisions_recorded = sum(len(v) for v in recorded.values())
        result.decisions_replayed = sum(len(v) for v in replayed.values())
        if self.reruns is not None:  # else every step result is history's, and so its usage
            result.usage = {
                "recorded": usage_totals(v for vs in recorded.values() for v in vs),
                "replayed": usage_totals(v for vs in replayed.values() for v in vs),
            }
        diff = diff_decisions(recorded, replayed)
        diff.workflows = [self._with_steps(w) for w in diff.workflows]
        return diff

    def _with_steps(self, w: WorkflowDiff) -> WorkflowDiff:
        missing = self.steps.needs_new_result(w.workflow_id)
        rerun = tuple(self.steps.rerun.get(w.workflow_id, ()))
        return replace(w, needs_new_step_result=missing, steps_rerun=rerun)
