"""Backfill: write what a replay decided otherwise, once, with the ids history would have had.

After a fix to the definitions, a dry run names the workflows whose decisions change. A
backfill writes, for those workflows only (changed or new):

- their replayed decisions' records that are not already on their topics: step commands (by
  command id), outputs (by event or notice id), audit records (by their bytes: a changed
  decision has the same id but another record) and engine quarantine records;
- their replayed state and due timers, to the ``workflows`` and ``timers`` changelogs, where
  they differ from the latest there. A worker restores them when it next takes the partition.

Everything goes in one Kafka transaction. Running it again finds every id and state already
written and writes nothing, so it never sends a second command or output: effects that were
done are not repeated (a command that was run is answered from the runner's ledger). The live
workers must be stopped, since their stores would not see the new states; with a topic prefix
(``to_prefix``) everything goes to shadow topics instead and the live ones are untouched.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from processors.contract import Emit
from processors.deployment import Deployment
from processors.engine import TIMERS, WORKFLOWS, TimerRef
from processors.events import decode_record
from processors.partitioning import partition_for
from processors.roles import AUDIT_ROLE, OUTPUTS_ROLE, QUARANTINE_ROLE, STEPS_ROLE
from replay.reader import ReplayError, read_records, topic_ends
from replay.session import Replay, ReplayResult
from replay.shadow import ShadowRun

_IDENTIFIED = (STEPS_ROLE, OUTPUTS_ROLE, AUDIT_ROLE, QUARANTINE_ROLE)


@dataclass
class BackfillPlan:
    """What a backfill would write: records per topic, and the workflows they are for."""

    workflows: list[str] = field(default_factory=list)
    records: list[tuple[str, Emit]] = field(default_factory=list)  # (target topic, record)

    def counts(self) -> dict[str, int]:
        return dict(Counter(topic for topic, _ in self.records))

    @property
    def empty(self) -> bool:
        return not self.records

    def as_dict(self) -> dict[str, Any]:
        return {"workflows": self.workflows, "records": self.counts()}


def _emit_id(emit: Emit) -> str | None:
    """The id a record is known by on its topic; None if it has none."""
    value = emit.value or b""
    if emit.role == STEPS_ROLE:
        command = dict(emit.headers).get("af-command-id")
        return command.decode() if command else None
    if emit.role == OUTPUTS_ROLE:
        _, datum = decode_record(value)
        return str(datum.get("notice_id") or datum.get("event_id") or "") or None
    if emit.role == QUARANTINE_ROLE:
        _, datum = decode_record(value)
        return f"{datum.get('event_id')}:{datum.get('reason')}"
    return None


def _present_ids(config: Mapping[str, Any], topic: str, role: str) -> set[str]:
    """The ids of the records on ``topic`` (see :func:`_emit_id`)."""
    ids: set[str] = set()
    for record in read_records(config, topic_ends(config, topic), role):
        found = _emit_id(Emit(role, record.key, record.value, record.headers))
        if found is not None:
            ids.add(found)
    return ids


def _latest(config: Mapping[str, Any], topic: str, keys: set[bytes]) -> dict[bytes, bytes | None]:
    """The latest value of each of ``keys`` on the changelog ``topic``."""
    latest: dict[bytes, bytes | None] = {}
    for record in read_records(config, topic_ends(config, topic), "changelog"):
        if record.key in keys:
            latest[record.key] = record.value
    return latest


def plan_backfill(
    config: Mapping[str, Any],
    replay: Replay,
    result: ReplayResult,
    shadow: ShadowRun,
    target: Deployment | None = None,
) -> BackfillPlan:
    """What to write, to ``target``'s topics (default: the replayed deployment's), for the
    replay's changed and new workflows (see the module docstring)."""
    live = replay.deployment
    deployment = target or live
    chosen = [w.workflow_id for w in result.diff.workflows if w.verdict in ("changed", "new")]
    plan = BackfillPlan(workflows=chosen)
    if not chosen:
        return plan
    present = {
        role: _present_ids(config, deployment.topic(role), role)
        for role in (STEPS_ROLE, OUTPUTS_ROLE, QUARANTINE_ROLE)
    }
    written_audits: set[bytes] = set()
    if deployment is not live:  # what an earlier backfill to the same shadow topics wrote
        ends = topic_ends(config, deployment.topic(AUDIT_ROLE))
        written_audits = {r.value for r in read_records(config, ends, AUDIT_ROLE) if r.value}
    for wf in chosen:
        recorded = set(replay.recorded_audits(wf)) | written_audits
        for emit in replay.emits.get(wf, ()):
            if emit.role not in _IDENTIFIED:
                continue
            if emit.role == AUDIT_ROLE:
                if emit.value in recorded:
                    continue
            else:
                found = _emit_id(emit)
                if found is None or found in present[emit.role]:
                    continue
                present[emit.role].add(found)
            plan.records.append((deployment.topic(emit.role), emit))
    plan.records += _state_records(config, deployment, shadow, chosen)
    return plan


def _state_records(
    config: Mapping[str, Any], deployment: Deployment, shadow: ShadowRun, chosen: Iterable[str]
) -> list[tuple[str, Emit]]:
    """The replayed states and due timers of ``chosen`` that the changelogs do not hold."""
    workflows_log, timers_log = deployment.changelog(WORKFLOWS), deployment.changelog(TIMERS)
    wanted: dict[bytes, bytes] = {}
    timers: dict[bytes, bytes] = {}
    for wf in chosen:
        key = wf.encode()
        state = shadow.state(partition_for(key, deployment.partitions))
        value = state.get(WORKFLOWS, key)
        if value is None:
            continue
        wanted[key] = state.stores[WORKFLOWS].codec.encode(value)
        for tkey, ref in state.range(TIMERS, b"", b"\xff" * 9):
            if isinstance(ref, TimerRef) and ref.workflow_id == wf:
                timers[tkey] = state.stores[TIMERS].codec.encode(ref)
    out: list[tuple[str, Emit]] = []
    states_now = _latest(config, workflows_log, set(wanted))
    out += [(workflows_log, Emit("changelog", k, v)) for k, v in wanted.items()
            if states_now.get(k) != v]  # fmt: skip
    timers_now = _latest(config, timers_log, set(timers))
    out += [(timers_log, Emit("changelog", k, v)) for k, v in timers.items()
            if timers_now.get(k) != v]  # fmt: skip
    return out


def group_is_empty(config: Mapping[str, Any], group: str) -> bool:
    """True if no consumer is a member of ``group`` (its workers are stopped)."""
    admin = AdminClient(dict(config))
    try:
        described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    except KafkaException as exc:
        raise ReplayError(f"cannot describe consumer group {group}: {exc}") from None
    return not described.members


def execute(config: Mapping[str, Any], plan: BackfillPlan, partitions: int) -> int:
    """Write ``plan`` in one transaction; the number of records written. Each goes to the
    partition its key hashes to (murmur2, as the host does), so a backfilled state lands
    where its workflow's worker restores it."""
    if plan.empty:
        return 0
    producer = Producer({
        **config,
        "transactional.id": f"agentflow-backfill-{uuid.uuid4().hex[:8]}",
        "enable.idempotence": True,
        "acks": "all",
    })  # fmt: skip
    try:
        producer.init_transactions(30)
        producer.begin_transaction()
        for topic, emit in plan.records:
            partition = emit.partition
            if partition is None:
                partition = partition_for(emit.key, partitions) if emit.key is not None else 0
            producer.produce(topic, emit.value, emit.key, partition=partition,
                             headers=list(emit.headers))  # fmt: skip
            producer.poll(0)
        producer.commit_transaction(60)
    except KafkaException as exc:
        raise ReplayError(f"the backfill's transaction failed, nothing was written: {exc}") \
            from None  # fmt: skip
    return len(plan.records)
