"""The runner's scheduling on the broker: no head-of-line blocking, and bounded buffering with
pause and resume under a flood, nothing lost. Commands go straight to the steps topic; the
answers are read from ingress."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from processors.engine.records import StepCommand
from processors.events import StepCompletedV2, decode
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.runner_flows import command

TIMED = {"AGENTFLOW_WORKFLOWS": "tests.integration.runner_flows:registry"}


def _send(dep: EngineDeployment, commands: Iterable[StepCommand]) -> int:
    producer = Producer({**dep.client_config, "partitioner": "murmur2_random", "linger.ms": 20})
    count = 0
    for c in commands:
        while True:
            try:
                producer.produce(dep.steps, c.encode(), c.workflow_id.encode(),
                                 headers=list(c.headers()))  # fmt: skip
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
    assert producer.flush(60) == 0
    return count


class _Answers:
    """Reads the step results the runner committed to ingress."""

    def __init__(self, dep: EngineDeployment) -> None:
        self.consumer = Consumer({**dep.client_config, "group.id": "answers-reader",
                                  "isolation.level": "read_committed"})  # fmt: skip
        self.consumer.assign(
            [TopicPartition(dep.ingress, p, OFFSET_BEGINNING) for p in range(dep.partitions)]
        )
        self.completed: dict[str, StepCompletedV2] = {}
        self.records = 0

    def read(self, timeout: float = 0.2) -> None:
        for m in self.consumer.consume(5000, timeout):
            if m.error() is None and m.value() is not None:
                event = decode(m.value())
                assert isinstance(event, StepCompletedV2)
                self.completed[event.workflow_id] = event
                self.records += 1

    def close(self) -> None:
        self.consumer.close()


def _figures(log: str) -> dict[str, int]:
    """The runner's ``--json`` figures: the last line of its output."""
    last = [line for line in log.splitlines() if line.startswith("{")][-1]
    figures: dict[str, int] = json.loads(last)
    return figures


def test_a_slow_step_does_not_hold_up_other_workflows(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="hol")
    env = {**TIMED, "AGENTFLOW_STEPS_MAX_IN_FLIGHT": "100", "AGENTFLOW_STEPS_GRACE_S": "0"}
    answers = _Answers(dep)
    with dep.step_runner("r1", env=env, args=("--json",)) as runner:
        # The slow one first, on the same partitions as the others: 30 s of "model time".
        _send(dep, [command("slow-0", "acme", 30)])
        time.sleep(0.5)
        started = time.monotonic()
        _send(dep, (command(f"fast-{i:03d}", "acme", 0.2) for i in range(500)))
        while len(answers.completed) < 500 and time.monotonic() - started < 25:
            answers.read()
        took = time.monotonic() - started
        runner.signal(signal.SIGTERM)
        assert runner.wait_exit(30) == 0, runner.log()
    answers.read(1.0)
    answers.close()
    dep.delete()
    fast = {wf for wf in answers.completed if wf.startswith("fast-")}
    assert len(fast) == 500 and "slow-0" not in answers.completed
    # 500 steps of 0.2 s at 100 at a time is 1 s of model time; allow for the broker.
    assert took < 10, f"the fast steps took {took:.1f}s behind a 30 s step"
    # The slow step was cancelled at the stop and left for redelivery, not answered.
    assert _figures(runner.log())["completed"] == 500


def test_a_flood_pauses_the_partitions_and_loses_nothing(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="fld")
    total = 50_000
    queued = _send(dep, (command(f"f-{i:05d}", f"t{i % 2}", 0.005) for i in range(total)))
    env = {**TIMED, "AGENTFLOW_STEPS_MAX_IN_FLIGHT": "50", "AGENTFLOW_STEPS_MAX_PER_TENANT": "50",
           "AGENTFLOW_STEPS_MAX_BUFFERED": "1000"}  # fmt: skip
    answers = _Answers(dep)
    with dep.step_runner("r1", env=env, args=("--json",)) as runner:
        deadline = time.monotonic() + 240
        while len(answers.completed) < total and time.monotonic() < deadline:
            answers.read()
        runner.signal(signal.SIGTERM)
        assert runner.wait_exit(30) == 0, runner.log()[-2000:]
    answers.close()
    dep.delete()
    assert queued == total and len(answers.completed) == total
    assert answers.records == total  # each command answered once
    figures = _figures(runner.log())
    assert figures["completed"] == total
    assert figures["pauses"] >= 1  # it paused rather than buffer 50,000 commands
    # Buffering stopped at the bound: at most one fetched batch past it.
    assert figures["max_buffered_seen"] <= 1000 + 2000, figures
