"""Driving plans through a deployment: :class:`EngineRun` produces them through the SDK
(signed), answers step commands with a :class:`~agentflow.testing.ScriptedStepWorker` in a
thread (:class:`StepThread`), grants approvals as an approver user when
``approval.requested`` shows up on ``outputs``, and watches ``audit`` and ``outputs`` until
every planned decision has been made."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from opentelemetry.trace import TracerProvider

from agentflow.composition import load_factory
from agentflow.gate_config import load_keyring
from agentflow.testing import ScriptedStepWorker
from examples.services.payments import PaymentsService
from examples.services.status import StatusService
from examples.tools import example_tools
from processors.engine import AuditRecord
from processors.events import ApprovalRequestedV1, Envelope
from streams.tracing import TRACEPARENT
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import Plan, approval_granted
from tests.integration.enginekit.readers import decode_output
from tests.integration.enginekit.watcher import CommittedWatch

STEP_KEY_ID = "steps-dev-1"


class StepThread:
    """A :class:`ScriptedStepWorker` answering step commands in a background thread."""

    def __init__(self, dep: EngineDeployment) -> None:
        # The tools' calls go to real local services: refunds, and the incidents' status reads.
        self.payments = PaymentsService().__enter__()
        self.status = StatusService().__enter__()
        self.worker = ScriptedStepWorker(
            client_config=dep.client_config,
            steps_topic=dep.steps,
            ingress_topic=dep.ingress,
            keyring=load_keyring(dep.settings().signing),
            key_id=STEP_KEY_ID,
            # The worker's own definitions (AGENTFLOW_WORKFLOWS), with their step declarations.
            registry=load_factory(
                dep.env.get("AGENTFLOW_WORKFLOWS", "examples.workflows:example_registry")
            ),
            group_id=f"{dep.prefix}{dep.app_id}.steps",
            tools=example_tools({"payments": self.payments.url, "status": self.status.url}),
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
        self.payments.__exit__(None, None, None)
        self.status.__exit__(None, None, None)


class EngineRun:
    """Drives plans through a deployment: produce, answer steps, grant approvals, watch.

    The watcher reads ``audit`` and ``outputs`` (read_committed, no consumer group) and grants
    each ``approval.requested`` as soon as it is committed, as many times as the plan says.
    """

    def __init__(
        self,
        dep: EngineDeployment,
        plans: Sequence[Plan],
        step_thread: bool = True,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """``step_thread=False``: something else (a runner process) answers the steps.
        ``tracer_provider``: the SDK's sends are spans of it."""
        self.dep = dep
        self.plans = {p.workflow_id: p for p in plans}
        self.expected_audits = sum(p.audits for p in plans)
        self.producer = dep.producer(tracer_provider)
        self.steps = StepThread(dep) if step_thread else None
        self.audits: list[AuditRecord] = []
        self.notices = 0
        self.finished: dict[str, str] = {}  # workflow id -> status, from the notices
        self.requests: dict[str, list[ApprovalRequestedV1]] = {}
        self.approvals_sent = 0
        self.produced: Counter[str] = Counter()  # event ids sent through the SDK
        self._watch = CommittedWatch(dep.bootstrap, (dep.audit, dep.outputs), dep.partitions)

    def send(self, plans: Iterable[Plan]) -> None:
        for p in plans:
            for event in p.events:
                self.producer.send(event)
                self.produced[event.event_id] += 1
        reports = self.producer.flush(60)
        assert all(r.ok for r in reports), [r for r in reports if not r.ok][:3]

    def pump(self, timeout: float = 0.2) -> None:
        """Read what was committed since the last call and grant approvals it asks for."""
        if self.steps is not None:
            self.steps.check()
        grants = False
        for m in self._watch.consume(timeout):
            value = m.value()
            assert value is not None
            if m.topic() == self.dep.audit:
                self.audits.append(AuditRecord.decode(value))
                continue
            out = decode_output(value)
            if isinstance(out, ApprovalRequestedV1):
                self.requests.setdefault(out.workflow_id, []).append(out)
                want = self.plans[out.workflow_id].approvals if out.workflow_id in self.plans else 0
                grant = approval_granted(out)
                # As a traced client would: the answer goes on in the request's trace.
                trace = [h for h in m.headers() or () if h[0] == TRACEPARENT]
                for _ in range(want):
                    self.producer.send(grant, headers=trace)
                    self.produced[grant.event_id] += 1
                    self.approvals_sent += 1
                    grants = True
            elif not isinstance(out, Envelope):
                self.notices += 1
                self.finished[out.workflow_id] = out.status
        if grants:
            self.producer.flush(60)

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
                    f"{self.steps.worker.answered if self.steps else '?'} steps answered, "
                    f"the watch reopened {self._watch.restarts} times"
                )
            self.pump()

    def settle(self, seconds: float = 2.0) -> None:
        """Keep pumping for ``seconds`` (to catch anything beyond the plan)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump()

    def close(self) -> None:
        try:
            if self.steps is not None:
                self.steps.stop()
        finally:
            self._watch.close()
            self.producer.close(10)
