"""Pre-loading live workflows for the scale stages, fast, as the worker itself would.

Running ``agentflow worker`` over a million ``ticket.created`` events takes longer than the
whole bench may (it is the figure being measured). Instead the state those events would leave
behind is written straight to the ``workflows`` changelog topic; a cold worker then restores it
(which is also the recovery measurement) and carries on as if it had processed them.

The state is the real one: the pipeline (gate and orchestrator, in-process) decides one
``ticket.created`` (:meth:`Workload.ticket_created` with ``uniform=True``), and the resulting
``WorkflowState`` record, encoded by the real table codec, is the template. Uniform events
differ only in fixed-width ids (workflow id, event id, ticket id, and the classify command id
derived from the event id), so workflow ``w``'s state is the template with those ids swapped.
:meth:`LiveStates.verify` checks byte equality with the pipeline's own output for sample
workflows before anything is produced. Every pre-loaded workflow is in ``classifying`` with
an open ``classify`` call, ready for the info loop's events; ``last_offset`` is the template's
(0) and all timestamps are the template's ``now``.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.workload import KEYS_FILE, POLICY_FILE, Workload
from examples.workflows import example_registry
from processors.engine import OrchestratorProcessor, ids
from processors.events import KeyRing
from processors.gate import Gate, load_policy
from processors.partitioning import partition_for
from processors.pipeline import WorkflowPipeline
from streams.driver import TestDriver


def pipeline() -> WorkflowPipeline:
    """The worker's default processor, built from the repository's dev policy and keys."""
    policy = load_policy(json.loads(POLICY_FILE.read_text()))
    raw = json.loads(KEYS_FILE.read_text())
    keys = {k: v for k, v in raw.items() if not k.startswith("_")}
    gate = Gate(policy, KeyRing.from_mapping(keys, revoked=policy.revoked_key_ids))
    return WorkflowPipeline(gate, OrchestratorProcessor(example_registry()))


def decided_state(workload: Workload, w: int, now_ms: int, partitions: int) -> bytes:
    """The encoded ``workflows`` value the pipeline writes for workflow ``w``'s uniform
    ``ticket.created`` (first record of its partition, at ``now_ms``)."""
    event = workload.ticket_created(w, uniform=True)
    with (
        tempfile.TemporaryDirectory(prefix="agentflow-bench-preload-") as tmp,
        TestDriver(
            [pipeline()],
            Path(tmp),
            partitions=partitions,
            start_ms=now_ms,
        ) as driver,
    ):
        emits = driver.pipe("ingress", event.key, event.value, tuple(event.headers))
        if not any(e.role == "steps" for e in emits):
            raise RuntimeError(f"ticket.created was not applied: {emits}")
        state = driver.partition_state(partition_for(event.key, partitions))
        raw = state.stores["workflows"].get_raw(event.key)
    if raw is None:
        raise RuntimeError("the pipeline wrote no workflow state")
    return raw


@dataclass
class LiveStates:
    """Synthesises the ``workflows`` changelog records of pre-loaded live workflows."""

    workload: Workload
    now_ms: int
    partitions: int
    template_w: int = 0
    _template: bytes = field(default=b"", repr=False)
    _ids: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        self._template = decided_state(self.workload, self.template_w, self.now_ms, self.partitions)
        self._ids = self._ids_of(self.template_w)
        for old in self._ids:
            if old not in self._template:  # pragma: no cover - a change in the engine
                raise RuntimeError(f"template state does not contain {old!r}")

    def _ids_of(self, w: int) -> tuple[bytes, ...]:
        wf = self.workload.workflow_id(w)
        created = self.workload.created_id(wf)
        return (
            wf.encode(),  # also inside every event id of the workflow
            f"T-{w:07d}".encode(),
            ids.command_id(created, "classify", 1).encode(),
        )

    @property
    def state_bytes(self) -> int:
        return len(self._template)

    def state(self, w: int) -> bytes:
        out = self._template
        for old, new in zip(self._ids, self._ids_of(w), strict=True):
            out = out.replace(old, new)
        return out

    def records(self, first: int, n: int) -> Iterator[tuple[bytes, bytes, None]]:
        """Changelog records (key, value, no headers) of workflows ``first .. first+n-1``."""
        for w in range(first, first + n):
            yield self.workload.workflow_id(w).encode(), self.state(w), None

    def verify(self, samples: int = 3, upto: int = 1_000_000, seed: int = 5) -> None:
        """Byte-compare :meth:`state` with the pipeline's own decision for sample workflows."""
        rng = random.Random(seed)
        for w in [upto - 1, *(rng.randrange(upto) for _ in range(samples))]:
            real = decided_state(self.workload, w, self.now_ms, self.partitions)
            if real != self.state(w):
                raise RuntimeError(f"synthesised state of workflow {w} differs from the real one")
