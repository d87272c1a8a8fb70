"""The step contract as the README writes it down: a step worker made of kcat and openssl
answers the engine's commands, and the workflow runs to its end."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import ticket_created
from tests.integration.enginekit.readers import final_states, read_topic
from tests.integration.workers import SIGNING_KEYS_FILE

ROOT = Path(__file__).resolve().parents[2]


def readme_script() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- snippet: shell-step-worker -->\n```sh\n(.*?)```", text, re.S)
    assert found, "the README lost its shell step worker"
    return found.group(1)


@pytest.fixture
def deployment(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Iterator[EngineDeployment]:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="sh")
    yield dep
    dep.delete()


def wait_for_status(dep: EngineDeployment, workflow_id: str, status: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = final_states(dep).get(workflow_id)
        if state is not None and state.status == status:
            return
        time.sleep(0.5)
    raise AssertionError(f"{workflow_id} never reached {status}: {final_states(dep)}")


def test_a_kcat_and_openssl_step_worker_answers_commands_as_the_readme_says(
    deployment: EngineDeployment, tmp_path: Path
) -> None:
    script = tmp_path / "answer-step.sh"
    script.write_text(readme_script())
    keys = json.loads(SIGNING_KEYS_FILE.read_text())["agentflow-steps"]
    [(key_id, secret)] = keys.items()
    env = {
        "PATH": "/usr/bin:/bin",
        "BOOTSTRAP": deployment.bootstrap,
        "STEPS_TOPIC": deployment.steps,
        "INGRESS_TOPIC": deployment.ingress,
        "STEPS_KEY_ID": key_id,
        "STEPS_SECRET": secret,
    }

    def answer(outcome: str) -> str:
        done = subprocess.run(
            ["bash", str(script)], env={**env, "OUTCOME": outcome},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    event = ticket_created("wf-shell-1", "acme", refund=False)
    with deployment.worker("w1"), deployment.producer() as producer:
        producer.send(event)
        assert all(r.ok for r in producer.flush())
        wait_for_status(deployment, "wf-shell-1", "classifying")
        assert answer("low_risk") == "answered classify of wf-shell-1 with low_risk"
        wait_for_status(deployment, "wf-shell-1", "drafting_reply")
        assert answer("sent") == "answered draft_reply of wf-shell-1 with sent"
        wait_for_status(deployment, "wf-shell-1", "done")
    state = final_states(deployment)["wf-shell-1"]
    assert state.completed_steps == ("classify", "draft_reply")
    assert read_topic(deployment.bootstrap, deployment.quarantine, deployment.partitions) == []
