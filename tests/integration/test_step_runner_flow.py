"""The runner's scheduling on the broker: no head-of-line blocking, and bounded buffering with
pause and resume under a flood, nothing lost. Commands go straight to the steps topic; the
answers are read from ingress."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from processors.engine.records import StepCommand
from processors.events import StepCompletedV2, decode
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.runner_flows import command
from tests.integration.scrape import free_port, scrape, value

TIMED = {"AGENTFLOW_WORKFLOWS": "tests.integration.runner_flows:registry"}


def send(dep: EngineDeployment, commands: Iterable[StepCommand]) -> int:
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


class Answers:
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


class _RssSampler:
    """Samples a process's resident memory every half second, on a thread of its own."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            self.samples.append(_rss_mib(self.pid))
            self._done.wait(0.5)

    def stop(self) -> list[int]:
        self._done.set()
        self._thread.join(5)
        return self.samples


def _rss_mib(pid: int) -> int:
    """The process's resident memory now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError(f"no VmRSS for process {pid}")


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
    answers = Answers(dep)
    with dep.step_runner("r1", env=env, args=("--json",)) as runner:
        # The slow one first, on the same partitions as the others: 30 s of "model time".
        send(dep, [command("slow-0", "acme", 30)])
        time.sleep(0.5)
        started = time.monotonic()
        send(dep, (command(f"fast-{i:03d}", "acme", 0.2) for i in range(500)))
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
    port = free_port()
    env = {**TIMED, "AGENTFLOW_STEPS_MAX_IN_FLIGHT": "50", "AGENTFLOW_STEPS_MAX_PER_TENANT": "50",
           "AGENTFLOW_STEPS_MAX_BUFFERED": "1000", "AGENTFLOW_METRICS_PORT": str(port)}  # fmt: skip
    answers = Answers(dep)
    with dep.step_runner("r1", env=env, args=("--json",)) as runner:
        runner.wait_for(lambda st: bool(st.get("assigned_partitions")))
        idle_rss = _rss_mib(runner.pid)
        sampler = _RssSampler(runner.pid)
        queued = send(dep, (command(f"f-{i:05d}", f"t{i % 2}", 0.005) for i in range(total)))
        deadline = time.monotonic() + 240
        while len(answers.completed) < total and time.monotonic() < deadline:
            answers.read()
        samples = sampler.stop()
        time.sleep(0.5)  # the last commit's answers are read; nothing is left to run
        metrics = scrape(f"http://127.0.0.1:{port}/metrics")
        runner.signal(signal.SIGTERM)
        assert runner.wait_exit(30) == 0, runner.log()[-2000:]
    answers.close()
    dep.delete()
    assert queued == total and len(answers.completed) == total
    assert answers.records == total  # each command answered once
    figures = _figures(runner.log())
    assert figures["completed"] == total
    # Its /metrics, scraped once all was answered, counts exactly that.
    steps = {"component": "steps"}
    assert value(metrics, "agentflow_records_out_total", role="ingress", **steps) == total
    assert value(metrics, "agentflow_records_in_total", **steps) == total
    assert value(metrics, "agentflow_steps_total", step="work", outcome="completed") == total
    assert value(metrics, "agentflow_steps_in_flight", **steps) == 0
    assert figures["pauses"] >= 1  # it paused rather than buffer 50,000 commands
    # Buffering stopped at the bound: at most one fetched batch past it.
    assert figures["max_buffered_seen"] <= 1000 + 2000, figures
    # Memory stayed bounded while the flood was worked off: 50,000 decoded commands alone take
    # about 90 MiB (9 MiB per 5,000, measured); sampled every 0.5 s, the runner's resident
    # memory stayed well under that above its idle footprint. (Unbounded buffering, the
    # negative control, grew 164 MiB.)
    grew = max(samples) - idle_rss
    assert grew < 60, (idle_rss, samples, figures["peak_rss_mib"])


def test_sigterm_lets_in_flight_steps_finish_within_the_grace_and_leaves_the_rest(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="trm")
    answers = Answers(dep)

    def stop_with_all_in_flight(grace_s: str, seconds: float, count: int) -> tuple[float, str]:
        env = {**TIMED, "AGENTFLOW_STEPS_GRACE_S": grace_s}
        with dep.step_runner("r1", env=env, args=("--json",)) as runner:
            runner.wait_for(lambda st: bool(st.get("assigned_partitions")))
            send(dep, (command(f"g-{i:02d}", "acme", seconds) for i in range(count)))
            # Every step running (far below the bounds: each one starts when it arrives).
            runner.wait_for(lambda st: st.get("steps", {}).get("in_flight", 0) == count)
            stopped = time.monotonic()
            runner.signal(signal.SIGTERM)
            assert runner.wait_exit(60) == 0, runner.log()[-2000:]
            return time.monotonic() - stopped, runner.log()

    # Steps of 3 s and a grace of 20 s: the stop waits for them, and they are answered.
    took, log = stop_with_all_in_flight("20", 3, 20)
    answers.read(2.0)
    assert len(answers.completed) == 20 and answers.records == 20
    assert _figures(log)["completed"] == 20
    assert 2 < took < 20, f"stopped {took:.1f}s after SIGTERM"
    # Steps of 8 s and a grace of 1 s: the stop cancels them after the grace; nothing is
    # answered, and their offsets were not committed, so the next runner answers them, once.
    took, log = stop_with_all_in_flight("1", 8, 10)
    answers.read(2.0)
    assert _figures(log)["completed"] == 0 and answers.records == 20
    assert took < 8, f"stopped {took:.1f}s after SIGTERM with a grace of 1 s"
    with dep.step_runner("r1", env={**TIMED}) as runner:
        deadline = time.monotonic() + 40
        while answers.records < 30 and time.monotonic() < deadline:
            answers.read()
        answers.read(2.0)
        runner.signal(signal.SIGTERM)
        assert runner.wait_exit(30) == 0, runner.log()[-2000:]
    answers.close()
    dep.delete()
    assert answers.records == 30  # the ten left at the stop, each answered once
