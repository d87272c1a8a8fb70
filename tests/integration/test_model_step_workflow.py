"""A workflow whose step is a model, end to end on the broker: the engine issues the command,
the step worker asks a real local OpenAI-protocol server with the step's scoped view, and the
model's typed output selects the transition."""

from __future__ import annotations

import json
import time
from pathlib import Path

from agentflow.gate_config import load_keyring
from agentflow.testing import ScriptedStepWorker
from agentflow.testing.fake_openai import FakeOpenAI, Reply
from agents import ModelEndpoint
from tests.integration import model_flows
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import ticket_created
from tests.integration.enginekit.readers import final_states

WORKFLOWS = {"AGENTFLOW_WORKFLOWS": "tests.integration.model_flows:registry"}


def test_a_model_step_answers_the_engine_with_its_typed_output(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="mdl")
    reply = Reply.output({"outcome": "refund", "reason": "charged twice"}, input_tokens=120)
    with FakeOpenAI([reply]) as server, dep.worker("w1", env=WORKFLOWS):
        steps = ScriptedStepWorker(
            dep.client_config, dep.steps, dep.ingress,
            load_keyring(dep.settings().signing), "steps-dev-1", model_flows.registry(),
            model_endpoint=ModelEndpoint(server.base_url, "test-key", 10),
            group_id=f"{dep.prefix}steps",
        )  # fmt: skip
        try:
            with dep.producer() as producer:
                producer.send(ticket_created("wf-model-1", "acme", refund=True))
                assert all(r.ok for r in producer.flush())
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                steps.run_once()
                state = final_states(dep).get("wf-model-1")
                if state is not None and state.status == "refunding":
                    break
        finally:
            steps.close()
    dep.delete()
    assert state is not None and state.status == "refunding", state
    assert json.loads(state.step_results["classify"]) == {
        "outcome": "refund",
        "reason": "charged twice",
    }
    # What the step cost reached the workflow's state, once.
    assert (state.usage.model_steps, state.usage.input_tokens) == (1, 120)
    assert state.usage.cost_usd is None  # no known price for the test's model
    [call] = [c for c in state.step_calls if c.step == "classify"]
    assert call.usage is not None and call.usage.model == "fake-triage"
    [prompt] = server.prompts()
    assert "Is this ticket a refund request? Charged twice" in prompt
    assert "Please refund one of the charges." in prompt  # context.body is in the view
    assert "T-wf-model-1" not in prompt and "cust-" not in prompt  # ticket and customer ids: not
