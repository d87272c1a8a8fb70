"""Helpers for workflow-engine tests on the real broker.

* :class:`EngineDeployment` — catalog topics (and the app's changelogs) under a test prefix,
  the worker's settings, and :class:`EngineWorker` subprocesses running ``agentflow worker``
  with no ``--processor`` (the gate fused with the orchestrator) on the catalog roles.
* :func:`build_plans` — a deterministic mix of workflows (low-risk and refund tickets,
  incidents, duplicates, events sent before their workflow's start event), each with the
  decisions and the final state the definitions say it must reach.
* :class:`EngineRun` — produces plans through the SDK (signed), runs a
  :class:`~agentflow.stepworker.ScriptedStepWorker` in a thread, grants approvals as an
  approver user when ``approval.requested`` shows up on ``outputs``, and watches ``audit``
  and ``outputs`` until every planned decision has been made.
* :func:`read_topic`, :func:`final_states`, :func:`check_run` — read back what was committed
  and check it against the plans.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from agentflow.sdk import EventProducer, settings_keyring
from agentflow.stepworker import ScriptedStepWorker
from processors.engine import (
    WORKFLOW_NOTICE,
    AuditRecord,
    WorkflowState,
    WorkflowStateCodec,
    decode_notice,
    decode_step_command,
)
from processors.events import (
    Actor,
    AlertFiredPayloadV1,
    AlertFiredV1,
    AlertResolvedPayloadV1,
    AlertResolvedV1,
    ApprovalDecision,
    ApprovalGrantedV1,
    ApprovalRequestedV1,
    CustomerRepliedPayloadV1,
    CustomerRepliedV1,
    DeploymentCompletedPayloadV1,
    DeploymentCompletedV1,
    Envelope,
    TicketClosedPayloadV1,
    TicketClosedV1,
    TicketCreatedPayloadV1,
    TicketCreatedV1,
    decode,
    decode_record,
)
from processors.quarantine import read_quarantine
from streams.settings import Settings
from tests.integration.faust_apps._harness import delete_topics_with_prefix
from tests.integration.hostkit import ROOT, CounterTopics, Worker
from topics import catalog, changelog_topic
from topics.admin import ensure_topics

PARTITIONS = 4
POLICY_FILE = ROOT / "config" / "policy.json"
SIGNING_KEYS_FILE = ROOT / "config" / "signing-keys.dev.json"
STEP_KEY_ID = "steps-dev-1"
#: Payload timestamps are fixed, so two runs of the same plans send the same payloads.
PAYLOAD_MS = 1_718_000_000_000

CUSTOMER = Actor(id="cust-77", kind="user", roles=["customer"])
MONITOR = Actor(id="alertmanager", kind="service", roles=["monitoring"])
APPROVER = Actor(id="u-olga", kind="user", roles=["support", "refund_approver"])


# -- deployment and workers ---------------------------------------------------------------------


class EngineWorker(Worker):
    """``agentflow worker`` with no --processor and no --role: the workflow pipeline on the
    catalog topics of ``AGENTFLOW_TOPIC_PREFIX`` (workflow definitions from
    ``AGENTFLOW_WORKFLOWS`` if ``extra_env`` sets it)."""

    def start(self) -> EngineWorker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stats_file.unlink(missing_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AGENTFLOW_BOOTSTRAP_SERVERS": self.bootstrap,
            "AGENTFLOW_APP_ID": self.topics.app_id,
            "AGENTFLOW_TOPIC_PREFIX": self.topics.prefix,
            "AGENTFLOW_WORKER_ID": self.worker_id,
            "AGENTFLOW_DATA_DIR": str(self.data_dir),
            "AGENTFLOW_STATS_FILE": str(self.stats_file),
            "AGENTFLOW_STATS_INTERVAL_S": "0.5",
            "AGENTFLOW_SESSION_TIMEOUT_MS": "6000",
            "AGENTFLOW_TRANSACTION_TIMEOUT_MS": "10000",
            "AGENTFLOW_POLICY_FILE": str(POLICY_FILE),
            "AGENTFLOW_SIGNING_KEYS_FILE": str(SIGNING_KEYS_FILE),
            **self.extra_env,
        }
        cmd = [sys.executable, "-m", "agentflow.cli.main", "worker"]
        log = open(self.log_file, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def partitions(self) -> set[int]:
        """The partitions the worker's last stats report says it owns."""
        parts = self.stats().get("assigned_partitions", [])
        assert isinstance(parts, list)
        return {int(p) for p in parts}


@dataclass
class EngineDeployment:
    """One isolated deployment: catalog topics under ``prefix``, changelogs of ``app_id``."""

    bootstrap: str
    prefix: str
    app_id: str
    data_root: Path
    partitions: int = PARTITIONS
    env: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def make(bootstrap: str, prefix: str, data_root: Path, tag: str = "eng") -> EngineDeployment:
        dep = EngineDeployment(bootstrap, prefix, f"{tag}{uuid.uuid4().hex[:6]}", data_root)
        dep.create()
        return dep

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def ingress(self) -> str:
        return self.topic("agentflow.ingress")

    @property
    def events(self) -> str:
        return self.topic("agentflow.workflow-events")

    @property
    def steps(self) -> str:
        return self.topic("agentflow.steps")

    @property
    def outputs(self) -> str:
        return self.topic("agentflow.outputs")

    @property
    def audit(self) -> str:
        return self.topic("agentflow.audit")

    @property
    def quarantine(self) -> str:
        return self.topic("agentflow.quarantine")

    @property
    def workflows_changelog(self) -> str:
        return self.topic(changelog_topic(self.app_id, "workflows"))

    @property
    def timers_changelog(self) -> str:
        return self.topic(changelog_topic(self.app_id, "timers"))

    @property
    def client_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap}

    def create(self) -> None:
        specs = catalog(partitions=self.partitions, replication_factor=1, app_id=self.app_id)
        ensure_topics(self.client_config, specs, prefix=self.prefix)

    def delete(self) -> None:
        delete_topics_with_prefix(self.bootstrap, self.prefix)

    def settings(self) -> Settings:
        return Settings(
            bootstrap_servers=self.bootstrap,
            topic_prefix=self.prefix,
            app_id=self.app_id,
            policy_file=POLICY_FILE,
            signing_keys_file=SIGNING_KEYS_FILE,
        )

    def worker(
        self, worker_id: str = "w1", data_dir: Path | None = None, **env: str
    ) -> EngineWorker:
        topics = CounterTopics(prefix=self.prefix, app_id=self.app_id, partitions=self.partitions)
        return EngineWorker(
            self.bootstrap,
            topics,
            data_dir or self.data_root / worker_id,
            worker_id,
            extra_env={**self.env, **env},
        ).start()

    def producer(self) -> EventProducer:
        return EventProducer.from_settings(self.settings())


class StepThread:
    """A :class:`ScriptedStepWorker` answering step commands in a background thread."""

    def __init__(self, dep: EngineDeployment) -> None:
        self.worker = ScriptedStepWorker(
            client_config=dep.client_config,
            steps_topic=dep.steps,
            ingress_topic=dep.ingress,
            keyring=settings_keyring(dep.settings()),
            key_id=STEP_KEY_ID,
            group_id=f"{dep.prefix}{dep.app_id}.steps",
        )
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="step-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.worker.run(self._stop.is_set)
        except BaseException as exc:  # surfaced by check()
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"the step worker thread died: {self.error!r}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.worker.close()


# -- plans ----------------------------------------------------------------------------------------

Kind = str
KINDS: tuple[Kind, ...] = (
    "low_risk",  # ticket.created -> classify low_risk -> draft_reply -> done
    "refund",  # ticket.created -> classify refund -> propose -> approval granted -> resolved
    "closed_first",  # ticket.closed held before ticket.created, applied on start -> closed
    "replied_first",  # customer.replied held, refused once the ticket cannot wait -> done
    "resolved_first",  # alert.resolved held until the incident waits -> done
    "deploy_first",  # deployment.completed and alert.resolved held -> correlate -> done
)


@dataclass
class Plan:
    """One workflow: what to send, and what the definitions say must come of it."""

    workflow_id: str
    kind: Kind
    tenant: str
    events: list[Envelope]  # in production order; a duplicate is the same object twice
    approvals: int  # how many times to send the approval answer (a duplicate: 2)
    status: str
    completed_steps: list[str]
    decisions: Counter[str]
    quarantine: Counter[str]  # reason -> count

    @property
    def audits(self) -> int:
        return sum(self.decisions.values())


def _env(wf: str, tenant: str, name: str, actor: Actor, source: str) -> dict[str, Any]:
    return {
        "event_id": f"{wf}/{name}",
        "occurred_at": int(time.time() * 1000),
        "source": source,
        "tenant": tenant,
        "actor": actor,
        "workflow_id": wf,
    }


def ticket_created(wf: str, tenant: str, refund: bool) -> TicketCreatedV1:
    # The scripted classifier says "refund" when the step input mentions a refund or a
    # double charge, so nothing else (ids included) may say so.
    subject, body = (
        ("Charged twice", "Please refund one of the charges.")
        if refund
        else ("Password reset", "I cannot log in since Monday.")
    )
    payload = TicketCreatedPayloadV1(
        ticket_id=f"T-{wf}", subject=subject, body=body, customer_id=CUSTOMER.id
    )
    return TicketCreatedV1(**_env(wf, tenant, "created", CUSTOMER, "helpdesk"), payload=payload)


def ticket_closed(wf: str, tenant: str) -> TicketClosedV1:
    payload = TicketClosedPayloadV1(ticket_id=f"T-{wf}", resolution="solved elsewhere")
    return TicketClosedV1(**_env(wf, tenant, "closed", CUSTOMER, "helpdesk"), payload=payload)


def customer_replied(wf: str, tenant: str) -> CustomerRepliedV1:
    payload = CustomerRepliedPayloadV1(
        ticket_id=f"T-{wf}", customer_id=CUSTOMER.id, message_id=f"m-{wf}", body="Any news?"
    )
    return CustomerRepliedV1(**_env(wf, tenant, "replied", CUSTOMER, "helpdesk"), payload=payload)


def alert_fired(wf: str, tenant: str) -> AlertFiredV1:
    payload = AlertFiredPayloadV1(
        alert_id=f"al-{wf}",
        service="checkout",
        name="HighErrorRate",
        severity="critical",
        summary="5xx above 2%",
        started_at=PAYLOAD_MS,
    )
    return AlertFiredV1(**_env(wf, tenant, "fired", MONITOR, "monitoring"), payload=payload)


def alert_resolved(wf: str, tenant: str) -> AlertResolvedV1:
    payload = AlertResolvedPayloadV1(
        alert_id=f"al-{wf}", service="checkout", name="HighErrorRate", resolved_at=PAYLOAD_MS + 1
    )
    return AlertResolvedV1(**_env(wf, tenant, "resolved", MONITOR, "monitoring"), payload=payload)


def deployment_completed(wf: str, tenant: str) -> DeploymentCompletedV1:
    payload = DeploymentCompletedPayloadV1(
        deployment_id=f"dep-{wf}",
        service="checkout",
        version="v2",
        environment="prod",
        status="succeeded",
        started_at=PAYLOAD_MS,
        finished_at=PAYLOAD_MS + 1,
    )
    return DeploymentCompletedV1(
        **_env(wf, tenant, "deployed", MONITOR, "monitoring"), payload=payload
    )


def approval_granted(request: ApprovalRequestedV1) -> ApprovalGrantedV1:
    """An approver user's grant of ``request`` (its id derives from the approval id)."""
    p = request.payload
    answer = ApprovalDecision(
        approval_id=p.approval_id,
        step=p.step,
        reviewer_id=APPROVER.id,
        decision="granted",
        decided_at=PAYLOAD_MS,
    )
    env = _env(
        request.workflow_id, request.tenant, f"grant-{p.approval_id}", APPROVER, "approvals-ui"
    )
    env["causation_id"] = request.event_id
    return ApprovalGrantedV1(**env, payload=answer)


def plan(i: int, kind: Kind, *, duplicate: bool = False, name: str = "wf") -> Plan:
    """Workflow ``i`` of ``kind``; ``duplicate`` sends one of its events twice."""
    wf = f"{name}-{i:05d}"
    tenant = "acme" if i % 3 else "globex"
    dup = 1 if duplicate else 0
    if kind == "low_risk":
        created = ticket_created(wf, tenant, refund=False)
        return Plan(
            wf, kind, tenant, [created] * (1 + dup), 0, "done",
            ["classify", "draft_reply"],
            Counter(applied=3, duplicate=dup), Counter(),
        )  # fmt: skip
    if kind == "refund":
        return Plan(
            wf, kind, tenant, [ticket_created(wf, tenant, refund=True)], 1 + dup, "resolved",
            ["classify", "propose_refund", "execute_refund"],
            Counter(applied=5, duplicate=dup), Counter(),
        )  # fmt: skip
    if kind == "closed_first":
        # held; start; the held close applied at once; the classify answer comes too late.
        closed = ticket_closed(wf, tenant)
        return Plan(
            wf, kind, tenant, [closed] * (1 + dup) + [ticket_created(wf, tenant, refund=False)],
            0, "closed", [],
            Counter(held=1, applied=2, rejected=1, duplicate=dup),
            Counter(unexpected_step_result=1),
        )  # fmt: skip
    if kind == "replied_first":
        # held through classifying (waiting_for_customer is reachable), refused in
        # drafting_reply (it is not any more).
        return Plan(
            wf, kind, tenant,
            [customer_replied(wf, tenant), ticket_created(wf, tenant, refund=False)],
            0, "done", ["classify", "draft_reply"],
            Counter(held=1, applied=3, rejected=1), Counter(invalid_transition=1),
        )  # fmt: skip
    if kind == "resolved_first":
        fired = alert_fired(wf, tenant)
        return Plan(
            wf, kind, tenant, [alert_resolved(wf, tenant)] + [fired] * (1 + dup),
            0, "done", ["gather_context", "draft_postmortem"],
            Counter(held=1, applied=4, duplicate=dup), Counter(),
        )  # fmt: skip
    if kind == "deploy_first":
        return Plan(
            wf, kind, tenant,
            [deployment_completed(wf, tenant), alert_resolved(wf, tenant), alert_fired(wf, tenant)],
            0, "done", ["gather_context", "correlate_deployment", "draft_postmortem"],
            Counter(held=2, applied=6), Counter(),
        )  # fmt: skip
    raise ValueError(kind)


#: The states each kind of workflow passes through (``history[*].to_state``).
PATHS: dict[Kind, tuple[str, ...]] = {
    "low_risk": ("classifying", "drafting_reply", "done"),
    "refund": (
        "classifying", "proposing_refund", "awaiting_approval", "executing_refund", "resolved"
    ),
    "closed_first": ("classifying", "closed"),
    "replied_first": ("classifying", "drafting_reply", "done"),
    "resolved_first": ("gathering_context", "waiting", "drafting_postmortem", "done"),
    "deploy_first": (
        "gathering_context", "waiting", "correlating", "waiting", "drafting_postmortem", "done"
    ),
}  # fmt: skip

#: The mix, per 20 workflows: (kind, duplicated?) in turn.
MIX: tuple[tuple[Kind, bool], ...] = (
    ("low_risk", False), ("refund", False), ("low_risk", True), ("resolved_first", False),
    ("refund", True), ("closed_first", False), ("low_risk", False), ("deploy_first", False),
    ("refund", False), ("replied_first", False), ("low_risk", False), ("resolved_first", True),
    ("refund", False), ("closed_first", True), ("low_risk", True), ("deploy_first", False),
    ("refund", True), ("low_risk", False), ("resolved_first", False), ("refund", False),
)  # fmt: skip


def build_plans(n: int, name: str = "wf") -> list[Plan]:
    """``n`` workflows in the fixed :data:`MIX` (deterministic: the same ``n`` gives the same
    plans but for ``occurred_at``)."""
    return [
        plan(i, MIX[i % len(MIX)][0], duplicate=MIX[i % len(MIX)][1], name=name) for i in range(n)
    ]


# -- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Msg:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def _consumer(bootstrap: str, **extra: Any) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"engine-reader-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "log_level": 3,
            **extra,
        }
    )


def read_topics(
    bootstrap: str,
    topics: Sequence[str],
    partitions: int = PARTITIONS,
    timeout: float = 60.0,
    committed: bool = True,
) -> dict[str, list[Msg]]:
    """Every committed record of each of ``topics``, up to its current end
    (``committed=False``: every record written, aborted ones included)."""
    isolation = "read_committed" if committed else "read_uncommitted"
    consumer = _consumer(bootstrap, **{"enable.partition.eof": True, "isolation.level": isolation})
    consumer.assign(
        [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(partitions)]
    )
    out: dict[str, list[Msg]] = {t: [] for t in topics}
    at_end: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < len(topics) * partitions:
            if time.monotonic() > deadline:
                raise AssertionError(f"reading {topics} saw no end in {timeout:.0f}s")
            for m in consumer.consume(5000, 0.05):
                tp = (m.topic(), m.partition())
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_end.add(tp)
                        continue
                    raise AssertionError(f"reading {tp}: {err.str()}")
                at_end.discard(tp)
                headers = tuple(m.headers() or ())
                out[tp[0]].append(Msg(*tp, m.offset(), m.key(), m.value(), headers))
    finally:
        consumer.close()
    return out


def read_topic(
    bootstrap: str,
    topic: str,
    partitions: int = PARTITIONS,
    timeout: float = 60.0,
    committed: bool = True,
) -> list[Msg]:
    """:func:`read_topics` for one topic."""
    return read_topics(bootstrap, [topic], partitions, timeout, committed)[topic]


def final_states(dep: EngineDeployment) -> dict[str, WorkflowState]:
    """The latest committed value of every key of the ``workflows`` changelog."""
    codec = WorkflowStateCodec()
    latest: dict[bytes, bytes | None] = {}
    for m in read_topic(dep.bootstrap, dep.workflows_changelog, dep.partitions):
        assert m.key is not None
        latest[m.key] = m.value
    return {k.decode(): codec.decode(v) for k, v in latest.items() if v is not None}


def decode_output(value: bytes) -> Envelope | Any:
    """An ``outputs`` record: a WorkflowNotice or an event (``approval.requested``)."""
    name, _ = decode_record(value)
    return decode_notice(value) if name == WORKFLOW_NOTICE else decode(value)


def output_id(value: bytes) -> str:
    out = decode_output(value)
    return out.event_id if isinstance(out, Envelope) else out.notice_id


# -- running --------------------------------------------------------------------------------------


class EngineRun:
    """Drives plans through a deployment: produce, answer steps, grant approvals, watch.

    The watcher reads ``audit`` and ``outputs`` (read_committed, no consumer group) and grants
    each ``approval.requested`` as soon as it is committed, as many times as the plan says.
    """

    def __init__(self, dep: EngineDeployment, plans: Sequence[Plan]) -> None:
        self.dep = dep
        self.plans = {p.workflow_id: p for p in plans}
        self.expected_audits = sum(p.audits for p in plans)
        self.producer = dep.producer()
        self.steps = StepThread(dep)
        self.audits: list[AuditRecord] = []
        self.notices = 0
        self.finished: dict[str, str] = {}  # workflow id -> status, from the notices
        self.requests: dict[str, list[ApprovalRequestedV1]] = {}
        self.approvals_sent = 0
        self.produced: Counter[str] = Counter()  # event ids sent through the SDK
        self._watch = _consumer(dep.bootstrap)
        self._watch.assign(
            [
                TopicPartition(t, p, OFFSET_BEGINNING)
                for t in (dep.audit, dep.outputs)
                for p in range(dep.partitions)
            ]
        )
        # Offset after the last committed (and, with watch_uncommitted, the last written)
        # audit record, per partition: see in_flight().
        self._committed_end: dict[int, int] = {}
        self._written_end: dict[int, int] = {}
        self._dirty: Consumer | None = None

    def watch_uncommitted(self) -> None:
        """Also read ``audit`` read_uncommitted, so :meth:`in_flight` can tell when a
        transaction holding audit records is open."""
        self._dirty = _consumer(self.dep.bootstrap, **{"isolation.level": "read_uncommitted"})
        self._dirty.assign(
            [
                TopicPartition(self.dep.audit, p, OFFSET_BEGINNING)
                for p in range(self.dep.partitions)
            ]
        )

    def in_flight(self) -> bool:
        """True if audit records were written (since :meth:`forget_written`) that are not
        committed yet: a transaction is open, or was cut short."""
        return any(end > self._committed_end.get(p, 0) for p, end in self._written_end.items())

    def forget_written(self, drain_s: float = 0.5) -> None:
        """Read what was written so far and forget it (after a kill: it is aborted now)."""
        end = time.monotonic() + drain_s
        while time.monotonic() < end:
            self.pump(0.1)
        self._written_end.clear()

    def send(self, plans: Iterable[Plan]) -> None:
        for p in plans:
            for event in p.events:
                self.producer.send(event)
                self.produced[event.event_id] += 1
        reports = self.producer.flush(60)
        assert all(r.ok for r in reports), [r for r in reports if not r.ok][:3]

    def pump(self, timeout: float = 0.2) -> None:
        """Read what was committed since the last call and grant approvals it asks for."""
        self.steps.check()
        grants = False
        for m in self._watch.consume(2000, timeout):
            if m.error() is not None:
                continue
            value = m.value()
            assert value is not None
            if m.topic() == self.dep.audit:
                self.audits.append(AuditRecord.decode(value))
                self._committed_end[m.partition()] = m.offset() + 1
                continue
            out = decode_output(value)
            if isinstance(out, ApprovalRequestedV1):
                self.requests.setdefault(out.workflow_id, []).append(out)
                want = self.plans[out.workflow_id].approvals if out.workflow_id in self.plans else 0
                grant = approval_granted(out)
                for _ in range(want):
                    self.producer.send(grant)
                    self.produced[grant.event_id] += 1
                    self.approvals_sent += 1
                    grants = True
            elif not isinstance(out, Envelope):
                self.notices += 1
                self.finished[out.workflow_id] = out.status
        if grants:
            self.producer.flush(60)
        if self._dirty is not None:
            for m in self._dirty.consume(5000, 0.01):
                if m.error() is None:
                    p = m.partition()
                    self._written_end[p] = max(self._written_end.get(p, 0), m.offset() + 1)

    def done(self) -> bool:
        return len(self.audits) >= self.expected_audits and self.notices >= len(self.plans)

    def wait(
        self,
        until: Callable[[EngineRun], bool] | None = None,
        timeout: float = 120.0,
        what: str = "every planned decision",
    ) -> None:
        """Pump until ``until`` (default: :meth:`done`) holds."""
        check = until or EngineRun.done
        deadline = time.monotonic() + timeout
        while not check(self):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}: {len(self.audits)}/{self.expected_audits} "
                    f"audits, {self.notices}/{len(self.plans)} notices, "
                    f"{self.steps.worker.answered} steps answered"
                )
            self.pump()

    def settle(self, seconds: float = 2.0) -> None:
        """Keep pumping for ``seconds`` (to catch anything beyond the plan)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump()

    def close(self) -> None:
        try:
            self.steps.stop()
        finally:
            self._watch.close()
            if self._dirty is not None:
                self._dirty.close()
            self.producer.close(10)


# -- checking -------------------------------------------------------------------------------------


@dataclass
class Collected:
    """Everything the run committed, read back after it finished."""

    states: dict[str, WorkflowState]
    audits: list[AuditRecord]
    steps: list[Msg]
    outputs: list[Msg]
    events: list[Msg]
    quarantine: list[Msg]


def collect(dep: EngineDeployment) -> Collected:
    topics = [dep.audit, dep.steps, dep.outputs, dep.events, dep.quarantine]
    read = read_topics(dep.bootstrap, topics, dep.partitions)
    return Collected(
        states=final_states(dep),
        audits=[AuditRecord.decode(m.value or b"") for m in read[dep.audit]],
        steps=read[dep.steps],
        outputs=read[dep.outputs],
        events=read[dep.events],
        quarantine=read[dep.quarantine],
    )


def command_ids(got: Collected) -> list[str]:
    return [decode_step_command(m.value or b"").command_id for m in got.steps]


def output_ids(got: Collected) -> list[str]:
    return [output_id(m.value or b"") for m in got.outputs]


def duplicated(ids: Iterable[str]) -> list[str]:
    return sorted(i for i, c in Counter(ids).items() if c > 1)


def check_run(run: EngineRun, got: Collected) -> None:
    """Every plan reached its final state with exactly its planned decisions; no output id
    (step command, output event or notice, audit record) was committed twice; the events
    topic holds each ingress event exactly as often as it was sent."""
    plans = run.plans
    # No output id twice.
    commands = command_ids(got)
    assert duplicated(commands) == [], "step command ids committed twice"
    assert duplicated(output_ids(got)) == [], "output ids committed twice"
    assert duplicated(a.audit_id for a in got.audits) == [], "audit ids committed twice"
    # Every workflow's final state.
    assert set(got.states) == set(plans), (
        sorted(set(plans) - set(got.states))[:5],
        sorted(set(got.states) - set(plans))[:5],
    )
    wrong = []
    for wf, p in plans.items():
        st = got.states[wf]
        path = tuple(h.to_state for h in st.history)
        seen = (st.status, st.final_outcome, st.completed_steps, st.definition_name, path)
        want = (p.status, p.status, p.completed_steps, _definition(p.kind), PATHS[p.kind])
        clean = (
            not st.held
            and not st.pending_approvals
            and not st.timers
            and all(c.status != "open" for c in st.step_calls)
        )
        if seen != want or not clean or st.completed_at is None:
            wrong.append((wf, p.kind, seen, want, clean))
    assert wrong == [], f"{len(wrong)} workflows ended wrong, e.g. {wrong[:3]}"
    # Exactly the planned decisions, per workflow.
    decisions: dict[str, Counter[str]] = {wf: Counter() for wf in plans}
    for a in got.audits:
        decisions[a.workflow_id][a.decision] += 1
    off = [(wf, plans[wf].kind, dict(c), dict(plans[wf].decisions))
           for wf, c in decisions.items() if c != plans[wf].decisions]  # fmt: skip
    assert off == [], f"{len(off)} workflows with other decisions, e.g. {off[:3]}"
    assert len(got.audits) == run.expected_audits
    # One notice per workflow, one command per issued step.
    notices = [o for o in (decode_output(m.value or b"") for m in got.outputs)
               if not isinstance(o, Envelope)]  # fmt: skip
    assert sorted(n.workflow_id for n in notices) == sorted(plans)
    assert {n.workflow_id: n.status for n in notices} == {wf: p.status for wf, p in plans.items()}
    issued = [c for a in got.audits for c in a.commands]
    assert sorted(issued) == sorted(commands)
    # Quarantine: only the refusals the plans predict.
    reasons: dict[str, Counter[str]] = {wf: Counter() for wf in plans}
    for m in got.quarantine:
        body = read_quarantine(m.value or b"")
        reasons[(m.key or b"").decode()][body["reason"]] += 1
    off_q = [(wf, dict(c)) for wf, c in reasons.items() if c != plans[wf].quarantine]
    assert off_q == [], f"unexpected quarantine, e.g. {off_q[:3]}"
    # The events topic: each SDK event as often as sent, each step result once.
    event_ids = Counter(decode(m.value or b"").event_id for m in got.events)
    sent = run.produced + Counter(f"step-{c}" for c in commands)
    assert event_ids == sent, (
        sorted((event_ids - sent).items())[:5],
        sorted((sent - event_ids).items())[:5],
    )


def _definition(kind: Kind) -> str:
    return (
        "incident_investigation"
        if kind in ("resolved_first", "deploy_first")
        else ("support_triage")
    )


def comparable_state(st: WorkflowState) -> tuple[Any, ...]:
    """What of a final state is deterministic: no clock, no input offsets."""
    history = tuple(
        (h.event_id, h.event_type, h.trigger, h.from_state, h.to_state, h.step) for h in st.history
    )
    return (st.status, tuple(st.completed_steps), st.final_outcome, history)


def comparable_audit(a: AuditRecord) -> tuple[Any, ...]:
    """An audit record without its wall-clock and offset fields (a duplicate's audit id
    hashes the duplicate's input offset, so it goes too)."""
    dump = a.model_dump(exclude={"decided_at", "event_offset"})
    if a.decision == "duplicate":
        dump.pop("audit_id")
    return tuple(sorted((k, repr(v)) for k, v in dump.items()))
