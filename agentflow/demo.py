"""The demo: the whole pipeline on sample events, on the real broker.

It starts a worker (gate + orchestrator) and the step runner (``agentflow steps run``) as
subprocesses, and the example payments service, sends a handful of signed events through the
SDK — a low-risk ticket, a refund that a reviewer approves with an edited amount (what the
payments service receives), an incident, an event that arrives before its workflow starts, a
duplicate and a forged event — and follows each workflow until it ends.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentflow.composition import build_deployment, topology_deployment
from agentflow.errors import UserError
from agentflow.gate_config import load_gate_policy, load_keyring
from agentflow.sdk import EventProducer
from agentflow.sdk.quarantine import read_entries
from agentflow.sdk.reader import read_topic
from agentflow.settings import Settings, environment, load_settings
from agentflow.testing import CUSTOMER, MONITOR, REVIEWER
from agentflow.testing.services import LocalService
from agentflow.workflow_query import WorkflowReader
from processors.engine import WorkflowState
from processors.events import Actor, Envelope, decode_record, model_for
from processors.roles import AUDIT_ROLE, OUTPUTS_ROLE, QUARANTINE_ROLE
from processors.steps import STEP_SOURCE
from topics import catalog, ensure_topics

DEV_KEYS = Path("config/signing-keys.dev.json")
#: The example payments service the refund's tool calls (run as its own process).
PAYMENTS_SERVICE = "examples.services.payments"
STATUS_SERVICE = "examples.services.status"
TERMINAL = {"done", "resolved", "closed", "failed", "escalated"}


@dataclass
class DemoRun:
    """What one demo run sent and saw."""

    run_id: str
    workflows: dict[str, str] = field(default_factory=dict)  # workflow id -> scenario
    states: dict[str, WorkflowState] = field(default_factory=dict)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)  # audit decision kind -> count
    #: What reached the outputs topic, per workflow: event types and notice kinds, in order.
    outputs: dict[str, list[str]] = field(default_factory=dict)
    worker_stats: dict[str, Any] = field(default_factory=dict)
    #: Every call the payments service received: idempotency key, body, effective or not.
    payments: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


class _Events:
    """Builds this run's events with wall-clock times and readable ids."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.count = 0

    def make(
        self,
        event_type: str,
        workflow_id: str,
        tenant: str,
        source: str,
        actor: Actor,
        payload: dict[str, Any],
    ) -> Envelope:
        self.count += 1
        model = model_for(event_type, 1)
        assert model is not None, event_type
        return model.model_validate(
            {
                "event_id": f"demo-{self.run_id}-{self.count:02d}",
                "event_type": event_type,
                "schema_version": 1,
                "occurred_at": int(time.time() * 1000),
                "source": source,
                "tenant": tenant,
                "actor": actor.model_dump(),
                "workflow_id": workflow_id,
                "payload": payload,
            }
        )


def _settings_with_dev_keys() -> tuple[Settings, bool]:
    settings = load_settings()
    if not settings.signing.configured:
        return settings.replace(signing={"signing_keys_file": DEV_KEYS}), True
    return settings, False


def run_demo(echo: Callable[[str], None], timeout_s: float = 90.0) -> DemoRun:
    """Run the demo scenario end to end; raises UserError with the cause if it cannot."""
    started = time.monotonic()
    started_ms = int(time.time() * 1000) - 60_000
    settings, dev_keys = _settings_with_dev_keys()
    if dev_keys:
        echo(f"Signing keys: {DEV_KEYS} (development secrets; set AGENTFLOW_SIGNING_KEYS_FILE)")
    keyring = load_keyring(settings.signing, load_gate_policy(settings.gate).revoked_key_ids)
    ensure_topics(settings.kafka.client_config(), catalog(topology_deployment(settings)))
    deployment = build_deployment(settings)
    run = DemoRun(run_id=uuid.uuid4().hex[:6])
    if not keyring.key_ids(STEP_SOURCE):
        raise UserError(f"no signing key for source {STEP_SOURCE!r}; add one to the signing keys")
    with ExitStack() as running:
        try:
            payments = LocalService.start(PAYMENTS_SERVICE, "/calls")
            running.callback(payments.stop)
            status = LocalService.start(STATUS_SERVICE, "/calls")
            running.callback(status.stop)
        except RuntimeError as exc:
            raise UserError(str(exc)) from None
        echo(f"payments service on {payments.url} (honours Idempotency-Key, logs every call)")
        echo(f"status service on {status.url} (the incidents' read tool)")
        worker = _start_worker(settings, echo)
        running.callback(worker.stop, echo)
        urls = {**settings.app.tool_urls, "payments": payments.url, "status": status.url}
        tools = {"AGENTFLOW_TOOL_URLS": json.dumps(urls)}
        steps = _start_worker(settings, echo, "step runner", ("steps", "run"), tools)
        running.callback(steps.stop, echo)
        # Errors only: right after `broker up`, librdkafka warns once that the broker's
        # coordinator is still loading and retries by itself; the tour should not show that.
        with EventProducer.from_settings(settings, config={"log_level": 3}) as producer:
            events, follow_ups = _send_scenario(run, producer, echo)
            _follow(run, settings, producer, events, follow_ups, echo, timeout_s)
        calls: list[dict[str, Any]] = payments.get_json("/calls")["calls"]
    # Only this run's refunds (a runner catching up on older commands may make others).
    references = {f"T-{wf}" for wf in run.workflows}
    run.payments = [c for c in calls if c["body"].get("reference") in references]
    quarantine = deployment.topic(QUARANTINE_ROLE)
    run.quarantined = [
        summary
        for entry in read_entries(settings.kafka.client_config(), quarantine)
        if (summary := entry.summary())["workflow_id"] in run.workflows
    ]
    audit = deployment.topic(AUDIT_ROLE)
    for msg in read_topic(settings.kafka.client_config(), audit, since_ms=started_ms):
        _, record = decode_record(msg.value() or b"")
        if record["workflow_id"] in run.workflows:
            run.decisions[record["decision"]] = run.decisions.get(record["decision"], 0) + 1
    outputs = deployment.topic(OUTPUTS_ROLE)
    for msg in read_topic(settings.kafka.client_config(), outputs, since_ms=started_ms):
        name, record = decode_record(msg.value() or b"")
        if record["workflow_id"] in run.workflows:
            kind = record.get("kind") or record.get("event_type") or name
            run.outputs.setdefault(record["workflow_id"], []).append(str(kind))
    run.worker_stats = worker.stats()
    run.seconds = time.monotonic() - started
    return run


# A follow-up event is sent once its workflow reaches the named status.
FollowUp = tuple[str, str, Envelope, str]  # workflow id, status, event, label


def _send_scenario(
    run: DemoRun, producer: EventProducer, echo: Callable[[str], None]
) -> tuple[_Events, list[FollowUp]]:
    ev, r = _Events(run.run_id), run.run_id
    low, refund, incident, early = (
        f"wf-{r}-{n}" for n in ("password", "refund", "incident", "early")
    )
    denied, sloppy, overreach, busy, globex_low = (
        f"wf-{r}-{n}" for n in ("denied", "sloppy", "overreach", "busy", "globex")
    )
    vague, globex_refund, quiet_incident = (
        f"wf-{r}-{n}" for n in ("vague", "globex-refund", "incident-2")
    )
    run.workflows = {
        low: "low-risk ticket",
        refund: "refund with approval",
        incident: "incident",
        early: "closed before it was created",
        denied: "refund denied",
        sloppy: "invalid model output, asked again",
        overreach: "tool outside the allowlist",
        busy: "model rate-limited (429), retried",
        globex_low: "low-risk ticket of another tenant",
        vague: "details asked of the customer, then answered",
        globex_refund: "refund approved as proposed, another tenant",
        quiet_incident: "incident without a deployment",
    }

    def ticket(wf: str, subject: str, body: str, tenant: str = "acme") -> Envelope:
        return ev.make(
            "ticket.created",
            wf,
            tenant,
            "helpdesk",
            CUSTOMER,
            {
                "ticket_id": f"T-{wf}",
                "subject": subject,
                "body": body,
                "customer_id": "cust-77",
                "tags": [],
            },
        )

    now = int(time.time() * 1000)

    def alert(wf: str, tenant: str, alert_id: str, service: str, at: int) -> Envelope:
        return ev.make("alert.fired", wf, tenant, "monitoring", MONITOR,
                       {"alert_id": alert_id, "service": service, "name": "HighErrorRate",
                        "severity": "critical", "summary": "5xx above 5%",
                        "started_at": at})  # fmt: skip

    def resolved(wf: str, tenant: str, alert_id: str, service: str, at: int) -> Envelope:
        return ev.make("alert.resolved", wf, tenant, "monitoring", MONITOR,
                       {"alert_id": alert_id, "service": service, "name": "HighErrorRate",
                        "resolved_at": at})  # fmt: skip

    low_created = ticket(low, "Password reset mail not arriving", "Nothing in spam either.")
    closed_first = ev.make(
        "ticket.closed",
        early,
        "acme",
        "helpdesk",
        CUSTOMER,
        {"ticket_id": f"T-{early}", "resolution": "customer withdrew"},
    )
    sends = [
        ("low-risk ticket", low_created),
        ("refund ticket", ticket(refund, "Charged twice for order 5521", "Please refund one.")),
        ("alert", alert(incident, "globex", "A-1", "checkout", now)),
        (
            "deployment",
            ev.make(
                "deployment.completed",
                incident,
                "globex",
                "monitoring",
                MONITOR,
                {
                    "deployment_id": "D-9",
                    "service": "checkout",
                    "version": "v2.3.1",
                    "environment": "prod",
                    "status": "succeeded",
                    "started_at": now - 60_000,
                    "finished_at": now,
                },
            ),
        ),
        ("ticket.closed before its ticket.created", closed_first),
        ("the ticket it closes", ticket(early, "Where is my parcel?", "Found it, sorry.")),
        ("the low-risk ticket again (duplicate event id)", low_created),
        ("refund ticket (to be denied)", ticket(denied, "Charged twice?", "Refund please.")),
        ("ticket [sloppy]", ticket(sloppy, "[sloppy] Invoice address", "Please update it.")),
        ("ticket [overreach]", ticket(overreach, "[overreach] Late parcel", "Still waiting.")),
        ("ticket [busy]", ticket(busy, "[busy] Change my e-mail", "To ana@example.org.")),
        ("globex ticket", ticket(globex_low, "VPN keeps dropping", "Since today.", "globex")),
        ("ticket [vague]", ticket(vague, "[vague] It does not work", "Nothing happens.")),
        (
            "globex refund ticket",
            ticket(globex_refund, "Charged twice for my plan", "Please refund one.", "globex"),
        ),
        ("alert (no deployment follows)", alert(quiet_incident, "acme", "A-2", "search", now)),
    ]
    for label, event in sends:
        producer.send(event)
        echo(f"sent {event.event_type:22} {event.workflow_id:24} {label}")
    forged = ev.make(
        "ticket.updated",
        refund,
        "acme",
        "helpdesk",
        CUSTOMER,
        {
            "ticket_id": f"T-{refund}",
            "changes": [{"field": "amount", "old_value": "42", "new_value": "4200"}],
        },
    )
    record = producer.prepare(forged)
    bad = tuple((k, b"0" * 64 if k == "af-signature" else v) for k, v in record.headers)
    producer.send_record(dataclasses.replace(record, headers=bad))
    echo(f"sent {forged.event_type:22} {forged.workflow_id:24} forged: a wrong signature")
    producer.flush()
    replied = ev.make("customer.replied", vague, "acme", "helpdesk", CUSTOMER,
                      {"ticket_id": f"T-{vague}", "customer_id": "cust-77", "message_id": "M-1",
                       "body": "The export button shows a blank page.",
                       "attachment_ids": []})  # fmt: skip
    return ev, [
        (incident, "waiting", resolved(incident, "globex", "A-1", "checkout", now + 1),
         "alert resolved"),
        (quiet_incident, "waiting", resolved(quiet_incident, "acme", "A-2", "search", now + 1),
         "alert resolved"),
        (vague, "waiting_for_customer", replied, "the customer's details"),
    ]  # fmt: skip


def _follow(
    run: DemoRun,
    settings: Settings,
    producer: EventProducer,
    ev: _Events,
    pending: list[FollowUp],
    echo: Callable[[str], None],
    timeout_s: float,
) -> None:
    """Poll the committed state; answer approvals and send follow-ups as workflows get there."""
    reader = WorkflowReader(settings)
    approved: set[str] = set()
    deadline = time.monotonic() + timeout_s
    last: dict[str, str | None] = {}
    try:
        while time.monotonic() < deadline:
            for wf in run.workflows:
                state, _ = reader.show(wf)
                if state is None:
                    continue
                run.states[wf] = state
                if last.get(wf) != state.status:
                    echo(f"  {wf:24} → {state.status}")
                    last[wf] = state.status
                if state.status == "awaiting_approval" and wf not in approved:
                    approved.add(wf)
                    _decide(producer, ev, state, run.workflows[wf], echo)
            for item in list(pending):
                wf, status, event, label = item
                if wf in run.states and run.states[wf].status == status:
                    producer.send(event)
                    producer.flush()
                    echo(f"sent {event.event_type:22} {wf:24} {label}")
                    pending.remove(item)
            if all(s.status in TERMINAL for s in run.states.values()) and len(run.states) == len(
                run.workflows
            ):
                return
            time.sleep(0.3)
    finally:
        reader.close()
    raise UserError(
        f"the demo workflows did not finish in {timeout_s:.0f}s; see .state/demo-worker.log"
    )


def _decide(
    producer: EventProducer,
    ev: _Events,
    state: WorkflowState,
    scenario: str,
    echo: Callable[[str], None],
) -> None:
    """The reviewer's answer: a denial that tells the agent to withdraw, a grant as proposed,
    or a grant that cuts the amount from 42.00 to 30.00 (what the payments service then
    receives)."""
    deny = scenario == "refund denied"
    approval = state.pending_approvals[0]
    decision: dict[str, Any] = {
        "approval_id": approval.approval_id,
        "step": approval.step,
        "reviewer_id": REVIEWER.id,
        "decision": "denied" if deny else "granted",
        "decided_at": int(time.time() * 1000),
    }
    if deny:
        decision["comment"] = "Not a duplicate charge: withdraw the refund."
        note = "denied: withdraw"
    elif scenario.startswith("refund approved as proposed"):
        decision["comment"] = "Duplicate charge confirmed."
        note = "approved as proposed"
    else:
        decision["changes"] = [{"field": "amount", "old_value": "42.00", "new_value": "30.00"}]
        decision["comment"] = "Duplicate charge confirmed; refund the 30.00 charged twice."
        note = "amount edited 42.00 -> 30.00"
    event_type = "approval.denied" if deny else "approval.granted"
    event = ev.make(
        event_type, state.workflow_id, state.tenant or "acme", "approvals-ui", REVIEWER, decision
    )
    producer.send(event)
    producer.flush()
    echo(f"sent {event.event_type:22} {state.workflow_id:24} by {REVIEWER.id} "
         f"({', '.join(REVIEWER.roles)}), {note}")  # fmt: skip


@dataclass
class _WorkerProcess:
    proc: subprocess.Popen[bytes]
    stats_file: Path
    name: str = "worker"

    def stats(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def stop(self, echo: Callable[[str], None]) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        echo(f"{self.name} stopped")


def _start_worker(
    settings: Settings,
    echo: Callable[[str], None],
    name: str = "worker",
    command: tuple[str, ...] = ("worker",),
    extra_env: dict[str, str] | None = None,
) -> _WorkerProcess:
    """``agentflow <command>`` as a subprocess, once it owns its partitions."""
    state_dir = Path(".state")
    state_dir.mkdir(exist_ok=True)
    stats_file = state_dir / f"demo-{name}-stats.json"
    stats_file.unlink(missing_ok=True)
    env = {
        **environment(),
        "AGENTFLOW_STATS_FILE": str(stats_file),
        "AGENTFLOW_STATS_INTERVAL_S": "1",
        "AGENTFLOW_WORKER_ID": f"demo-{name}",
        **(extra_env or {}),
    }
    if settings.signing.signing_keys_file is not None:
        env["AGENTFLOW_SIGNING_KEYS_FILE"] = str(settings.signing.signing_keys_file)
    log_path = state_dir / f"demo-{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentflow.cli.main", *command],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    worker = _WorkerProcess(proc, stats_file, name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"the {name} exited at start-up; see {log_path}")
        if worker.stats().get("assigned_partitions"):
            partitions = worker.stats()["assigned_partitions"]
            echo(f"{name} up (pid {proc.pid}), partitions {partitions}")
            return worker
        time.sleep(0.2)
    worker.stop(echo)
    raise UserError(f"the {name} got no partitions in 60s; see {log_path}")
