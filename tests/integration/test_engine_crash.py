"""The workflow engine through crashes: a worker SIGKILLed three times mid-run ends where a run
without a crash ends, decision for decision; and a second worker takes over a dead one's
partitions, restoring their workflow state from the changelog."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.integration.crashpoint import CRASHING, crash_env
from tests.integration.enginekit.checks import (
    Collected,
    check_run,
    collect,
    command_ids,
    comparable_audit,
    comparable_state,
    output_ids,
)
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import Plan, build_plans
from tests.integration.enginekit.readers import read_topic
from tests.integration.enginekit.run import EngineRun
from tests.integration.workers import Worker

pytestmark = pytest.mark.timeout(300)


def _audits(plans: Sequence[Plan]) -> int:
    return sum(p.audits for p in plans)


def _waves(plans: list[Plan], n: int) -> list[list[Plan]]:
    size = -(-len(plans) // n)
    return [plans[i : i + size] for i in range(0, len(plans), size)]


def _run_plain(dep: EngineDeployment, plans: list[Plan]) -> EngineRun:
    worker = dep.worker("w1")
    run = EngineRun(dep, plans)
    try:
        run.send(plans)
        run.wait(timeout=180)
        run.settle(1.0)
        assert worker.alive(), worker.log()
    finally:
        run.close()
        code = worker.stop()
    assert code == 0, worker.log()
    return run


def test_should_end_like_an_uncrashed_run_when_the_worker_is_sigkilled_three_times(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    plans = build_plans(500, name="cr")
    base = EngineDeployment.make(kafka_bootstrap, f"{topic_prefix}base.", tmp_path / "b", "base")
    crash = EngineDeployment.make(kafka_bootstrap, f"{topic_prefix}crash.", tmp_path / "c", "crash")
    try:
        started = time.monotonic()
        base_run = _run_plain(base, plans)
        base_got = collect(base)
        check_run(base_run, base_got)
        base_s = time.monotonic() - started

        # The same input, in four waves. During each of the first three, the worker kills
        # itself inside a checkpoint (tests.integration.crashpoint) once it has written state
        # for about a third of the wave's decisions: earlier checkpoints are committed, this
        # one's transaction is open and holds audit records. It is started again (same worker
        # id and data dir) after the next wave is sent. Batches of 20 make many checkpoints.
        crash.env.update(AGENTFLOW_BATCH_SIZE="20")
        started = time.monotonic()
        waves = _waves(plans, 4)
        run = EngineRun(crash, plans)
        kills: list[int] = []  # audits committed at each kill
        try:
            for wave in waves[:-1]:
                run.send(wave)
                at_write = max(1, _audits(wave) // 3)
                with crash.worker("w1", processor=CRASHING, env=crash_env(at_write)) as doomed:

                    def dead(_: EngineRun, w: Worker = doomed) -> bool:
                        return not w.alive()

                    run.wait(dead, timeout=120, what=f"the worker's crash at write {at_write}")
                    assert doomed.wait_exit(10) == -signal.SIGKILL, doomed.log()
                kills.append(len(run.audits))
                assert not run.done()
            run.send(waves[-1])
            worker = crash.worker("w1")
            try:
                run.wait(timeout=180)
                run.settle(1.0)
                assert worker.alive(), worker.log()
            finally:
                code = worker.stop()
        finally:
            run.close()
        assert code == 0, worker.log()
        crash_s = time.monotonic() - started
        got = collect(crash)
        uncommitted = len(read_topic(crash.bootstrap, crash.audit, committed=False))
    finally:
        base.delete()
        crash.delete()
    print(
        f"base {base_s:.1f}s, crashed {crash_s:.1f}s, kills at {kills}, "
        f"{uncommitted - len(got.audits)} aborted audit records"
    )
    check_run(run, got)
    # The same end, workflow by workflow, and the same decisions.
    want = {wf: comparable_state(st) for wf, st in base_got.states.items()}
    have = {wf: comparable_state(st) for wf, st in got.states.items()}
    differ = [(wf, want[wf], have.get(wf)) for wf in want if have.get(wf) != want[wf]]
    assert differ == [], f"{len(differ)} workflows differ, e.g. {differ[:2]}"
    want_audits = Counter(comparable_audit(a) for a in base_got.audits)
    have_audits = Counter(comparable_audit(a) for a in got.audits)
    assert have_audits == want_audits, (
        list((want_audits - have_audits).items())[:2],
        list((have_audits - want_audits).items())[:2],
    )
    # ... in the same order per workflow, with the same commands and outputs.
    assert _per_workflow(got) == _per_workflow(base_got)
    assert sorted(command_ids(got)) == sorted(command_ids(base_got))
    assert sorted(output_ids(got)) == sorted(output_ids(base_got))
    # The kills cut transactions short: their records are in the log, aborted.
    assert uncommitted > len(got.audits), "no kill landed inside an open transaction"


def _per_workflow(got: Collected) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for a in got.audits:
        out.setdefault(a.workflow_id, []).append(comparable_audit(a))
    return out


def test_should_take_over_a_killed_workers_partitions_and_restore_their_state(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    plans = build_plans(600, name="fo")
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", "fo")
    try:
        _failover(dep, plans)
    finally:
        dep.delete()


def _failover(dep: EngineDeployment, plans: list[Plan]) -> None:
    waves = _waves(plans, 3)
    a = dep.worker("a")
    b: Worker | None = None
    run = EngineRun(dep, plans)
    try:
        # Worker A alone does the first wave: every partition gets workflow state.
        run.send(waves[0])
        first = _audits(waves[0])
        run.wait(lambda r: len(r.audits) >= first and r.notices >= len(waves[0]), timeout=120)
        b = dep.worker("b")
        deadline = time.monotonic() + 90
        while not (
            a.partitions() and b.partitions() and a.partitions() | b.partitions() == {0, 1, 2, 3}
            and not a.partitions() & b.partitions()
        ):  # fmt: skip
            assert time.monotonic() < deadline, (a.stats(), b.stats(), a.log(), b.log())
            assert a.alive() and b.alive(), (a.log(), b.log())
            run.pump()
        a_partitions = a.partitions()
        # The second wave is under way when A dies.
        run.send(waves[1])
        target = first + int(0.3 * _audits(waves[1]))
        run.wait(lambda r: len(r.audits) >= target, timeout=120, what="part of wave 2")
        a.kill()
        killed_at = time.monotonic()
        assert not run.done()
        b.wait_for(lambda s: len(s.get("assigned_partitions", [])) == 4, timeout=90)
        run.send(waves[2])
        run.wait(timeout=180)
        # A's last transaction stays open until the broker times it out (10 s transaction
        # timeout, checked every 10 s) and hides later records of its partitions from
        # read_committed readers until then; B has another transactional id, so it cannot
        # fence it. Collect only after that.
        run.settle(max(1.0, killed_at + 25.0 - time.monotonic()))
        assert b.alive(), b.log()
        stats = b.stats()
    finally:
        run.close()
        a.kill()
        code = b.stop() if b is not None else None
    assert code == 0, b.log() if b is not None else ""
    got = collect(dep)
    restores = stats["restores"]
    assert isinstance(restores, list)
    restored = {r["partition"] for r in restores if r["table"] == "workflows" and r["records"] > 0}
    print(f"A had {sorted(a_partitions)}; B restored {restores}")
    assert 0 < len(a_partitions) < 4
    assert a_partitions <= restored, (a_partitions, restores)
    check_run(run, got)
