"""A tenant's daily model budget in the step runner, on the broker: once a tenant's usage
records reach the budget, its next model step is answered ``step.failed`` (permanent,
``tenant_budget_exceeded``) without calling the model, while another tenant's steps still run.
A second runner, started afterwards, reads the same spend back from the usage topic."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from agentflow.testing.fake_openai import FakeOpenAI, Reply
from processors.engine import ids
from processors.engine.records import StepCommand
from processors.events import StepCompletedV2, StepFailedV2, decode
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.scrape import free_port, scrape, value
from tests.integration.test_step_runner_flow import send

TOKENS_PER_STEP = 60  # the fake model's 50 in and 10 out
BUDGET = 150  # reached by acme's third step: 180


def _classify(workflow_id: str, tenant: str) -> StepCommand:
    cause = f"created-{workflow_id}"
    return StepCommand(
        command_id=ids.command_id(cause, "classify", 1),
        workflow_id=workflow_id,
        tenant=tenant,
        definition_name="model_triage",
        definition_version=1,
        step="classify",
        attempt=1,
        causation_id=cause,
        issued_at=0,
        input={"context.subject": "Charged twice", "context.body": "Please refund one."},
    )


class _Results:
    """The runner's answers on ingress, read_committed, by workflow id."""

    def __init__(self, dep: EngineDeployment) -> None:
        self.consumer = Consumer({**dep.client_config, "group.id": "budget-results",
                                  "isolation.level": "read_committed"})  # fmt: skip
        self.consumer.assign(
            [TopicPartition(dep.ingress, p, OFFSET_BEGINNING) for p in range(dep.partitions)]
        )
        self.by_workflow: dict[str, StepCompletedV2 | StepFailedV2] = {}

    def wait_for(self, workflow_id: str, timeout: float = 60) -> StepCompletedV2 | StepFailedV2:
        deadline = time.monotonic() + timeout
        while workflow_id not in self.by_workflow:
            assert time.monotonic() < deadline, f"no answer for {workflow_id}"
            for m in self.consumer.consume(100, 0.2):
                if m.error() is None and m.value() is not None:
                    event = decode(m.value())
                    assert isinstance(event, StepCompletedV2 | StepFailedV2)
                    self.by_workflow[event.workflow_id] = event
        return self.by_workflow[workflow_id]


def _spent_seen(port: int, tenant: str, tokens: int, timeout: float = 20) -> None:
    """Waits until the runner's budget check has read ``tokens`` of ``tenant``'s spend."""
    deadline = time.monotonic() + timeout
    name = "agentflow_tenant_spent_today_tokens"
    while value(scrape(f"http://127.0.0.1:{port}/metrics"), name, tenant=tenant) != tokens:
        assert time.monotonic() < deadline, f"the runner never saw {tenant} spend {tokens}"
        time.sleep(0.1)


def test_a_tenant_past_its_daily_budget_gets_no_more_model_steps_and_others_still_do(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="bdg")
    reply = Reply.output({"outcome": "refund", "reason": "charged twice"},
                         input_tokens=50, output_tokens=10)  # fmt: skip
    port = free_port()
    results = _Results(dep)
    with FakeOpenAI([reply] * 10) as model:
        env = {"AGENTFLOW_WORKFLOWS": "tests.integration.model_flows:registry",
               "AGENTFLOW_MODEL_BASE_URL": model.base_url, "AGENTFLOW_MODEL_API_KEY": "k",
               "AGENTFLOW_STEPS_TENANT_DAILY_TOKENS": str(BUDGET),
               "AGENTFLOW_METRICS_PORT": str(port)}  # fmt: skip
        with dep.step_runner("r1", env=env) as runner:
            runner.wait_for(lambda st: bool(st.get("assigned_partitions")))
            # One at a time, each after the runner has read the last one's spend: the budget
            # is soft, so steps already running when it is reached would still finish.
            for i in range(1, 5):
                send(dep, [_classify(f"acme-{i}", "acme")])
                results.wait_for(f"acme-{i}")
                _spent_seen(port, "acme", min(i, 3) * TOKENS_PER_STEP)
            send(dep, [_classify("globex-1", "globex")])
            results.wait_for("globex-1")
            runner.signal(signal.SIGTERM)
            assert runner.wait_exit(30) == 0, runner.log()[-2000:]
        # A runner started afresh reads today's spend back from the usage topic.
        with dep.step_runner("r2", env=env) as again:
            again.wait_for(lambda st: bool(st.get("assigned_partitions")))
            _spent_seen(port, "acme", 3 * TOKENS_PER_STEP)
            send(dep, [_classify("acme-5", "acme")])
            fifth = results.wait_for("acme-5")
            again.signal(signal.SIGTERM)
            assert again.wait_exit(30) == 0, again.log()[-2000:]
    results.consumer.close()
    dep.delete()
    answers = {wf: type(e).__name__ for wf, e in sorted(results.by_workflow.items())}
    assert answers == {
        "acme-1": "StepCompletedV2", "acme-2": "StepCompletedV2", "acme-3": "StepCompletedV2",
        "acme-4": "StepFailedV2", "acme-5": "StepFailedV2", "globex-1": "StepCompletedV2",
    }  # fmt: skip
    for refused in (results.by_workflow["acme-4"], fifth):
        assert isinstance(refused, StepFailedV2)
        assert (refused.payload.error_class, refused.payload.error_type) == (
            "permanent", "tenant_budget_exceeded",
        )  # fmt: skip
        assert "180 tokens spent today, the daily budget is 150" in refused.payload.error_message
        assert refused.payload.usage is None
    assert len(model.requests) == 4  # acme's three and globex's one; no call for a refusal
