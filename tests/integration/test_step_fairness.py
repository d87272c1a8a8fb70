"""Fair flow control on the broker: a tenant that floods the runner cannot starve another, an
urgent step jumps the queue, and the runner's /metrics shows the queue depth by tenant.
Commands go straight to the steps topic."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.runner_flows import command
from tests.integration.scrape import by_label, free_port, scrape, value
from tests.integration.test_step_runner_flow import TIMED, Answers, send

FLOOD, SMALL = 10_000, 100
STEP_S = 0.05


def test_a_flooding_tenant_does_not_starve_a_small_one_and_urgent_steps_go_first(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="fair")
    port = free_port()
    # 20 slots, weights 1:1, and room to buffer the whole flood (fairness works among the
    # commands the runner has read).
    env = {**TIMED, "AGENTFLOW_STEPS_MAX_IN_FLIGHT": "20", "AGENTFLOW_STEPS_MAX_PER_TENANT": "20",
           "AGENTFLOW_STEPS_MAX_BUFFERED": "20000", "AGENTFLOW_STEPS_GRACE_S": "0",
           "AGENTFLOW_METRICS_PORT": str(port)}  # fmt: skip
    answers = Answers(dep)
    seen_at: dict[str, float] = {}
    a_done_when: dict[str, int] = {}  # workflow -> A's completions when it was first seen

    def read() -> None:
        answers.read(0.05)
        a_done = sum(1 for wf in answers.completed if wf.startswith("a-"))
        for wf in answers.completed:
            if wf not in seen_at:
                seen_at[wf] = time.monotonic()
                a_done_when[wf] = a_done

    with dep.step_runner("r1", env=env, args=("--json",)) as runner:
        runner.wait_for(lambda st: bool(st.get("assigned_partitions")))
        send(dep, (command(f"a-{i:05d}", "tenant-a", STEP_S) for i in range(FLOOD)))
        send(dep, (command(f"b-{i:03d}", "tenant-b", STEP_S) for i in range(SMALL)))
        deadline = time.monotonic() + 60
        while sum(wf.startswith("b-") for wf in answers.completed) < SMALL:
            assert time.monotonic() < deadline, "tenant B's steps did not all finish"
            read()
        depth = by_label(scrape(f"http://127.0.0.1:{port}/metrics"),
                         "agentflow_steps_waiting_by_tenant", "tenant")  # fmt: skip
        # An urgent step of the flooding tenant itself: the lane, not the weights, lets it
        # through.
        send(dep, [command("page-0", "tenant-a", STEP_S, urgent=True)])
        sent_urgent = time.monotonic()
        while "page-0" not in answers.completed:
            assert time.monotonic() < deadline, "the urgent step did not finish"
            read()
        urgent_took = seen_at["page-0"] - sent_urgent
        while sum(wf.startswith("a-") for wf in answers.completed) < 2000:
            assert time.monotonic() < deadline
            read()
        read()
        read_before = answers.records
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        time.sleep(0.5)
        read()
        read_after = answers.records
        runner.signal(signal.SIGTERM)
        assert runner.wait_exit(30) == 0, runner.log()[-2000:]
    answers.close()
    dep.delete()
    b_finished = max(a_done_when[f"b-{i:03d}"] for i in range(SMALL))
    a_left = FLOOD - b_finished
    print(
        f"B's {SMALL} steps done after {b_finished} of A's; {a_left} of A's still queued; "
        f"urgent step answered in {urgent_took * 1000:.0f} ms; depth {depth}"
    )
    # 1:1 weights: B's 100 took about as many of A's turns; FIFO would have run all 10,000.
    assert b_finished <= 3 * SMALL, b_finished
    assert a_left >= 9000
    assert depth.get("tenant-a", 0) > 5000  # the queue depth by tenant, scraped mid-run
    # The urgent step started at the next free slot, ahead of thousands of A's: at most the
    # slots that freed while it was being read and answered went to others.
    assert a_done_when["page-0"] - a_done_when.get("b-099", 0) < 500
    assert urgent_took < 2.0, urgent_took
    # The runner counts answers at commit: between what was read before and after the scrape.
    committed = value(samples, "agentflow_records_out_total", component="steps", role="ingress")
    assert read_before <= committed <= read_after
