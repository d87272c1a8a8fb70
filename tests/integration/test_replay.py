"""``agentflow replay`` on the real broker: a recorded run of both example workflows replays
identically and writes nothing; a candidate definition changes exactly the workflows it
should, each at its first divergent decision; filters and bad arguments."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from agentflow.workflow_query import details
from processors.engine import WorkflowStateCodec, decode_step_command
from replay.backfill import group_is_empty
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import KINDS, Plan, build_plans
from tests.integration.enginekit.readers import final_states, read_topic
from tests.integration.enginekit.run import EngineRun
from tests.integration.replay_candidates import PAUSE_FILE_ENV
from tests.integration.workers import CLI, ROOT, SHIPPED_CONFIG, cli_env, run_cli

pytestmark = pytest.mark.timeout(300)
CANDIDATE_MODULE = "tests.integration.replay_candidates"
CANDIDATE = f"{CANDIDATE_MODULE}:replies_while_drafting"


@pytest.fixture(scope="module")
def recorded(
    kafka_bootstrap: str, run_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EngineDeployment, list[Plan]]]:
    """60 workflows of every kind, run to their ends by the default worker."""
    data = tmp_path_factory.mktemp("replay") / "data"
    dep = EngineDeployment.make(kafka_bootstrap, f"{run_prefix}replay.", data, tag="rpl")
    plans = build_plans(60, name="rp")
    assert {p.kind for p in plans} == set(KINDS)
    worker = dep.worker()
    run = EngineRun(dep, plans)
    try:
        run.send(plans)
        run.wait(timeout=180)
        run.settle(1.0)
    finally:
        run.close()
        assert worker.stop() == 0, worker.log()
    yield dep, plans
    dep.delete()


def _replay(dep: EngineDeployment, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("replay", *args, env=dep.cli_env(), timeout=180)


def _ends(dep: EngineDeployment) -> dict[tuple[str, int], int]:
    """Every topic of the deployment's end offsets (asked again while a just-created
    partition's leader is still being elected)."""
    consumer = Consumer({**dep.client_config, "group.id": "replay-ends"})
    deadline = time.monotonic() + 30
    try:
        while True:
            topics = [t for t in consumer.list_topics(timeout=10).topics
                      if t.startswith(dep.prefix)]  # fmt: skip
            try:
                return {
                    (t, p): consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
                    for t in topics
                    for p in range(dep.partitions)
                }
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


def _result(done: subprocess.CompletedProcess[str], code: int = 0) -> dict[str, Any]:
    assert done.returncode == code, done.stderr[-3000:]
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_an_unchanged_engine_replays_history_identically_and_writes_nothing(
    recorded: tuple[EngineDeployment, list[Plan]], tmp_path: Path
) -> None:
    dep, plans = recorded
    before = _ends(dep)
    report = tmp_path / "report.json"
    result = _result(_replay(dep, "--json", "--report", str(report), "--report",
                             str(tmp_path / "report.md"), "--fail-on", "changed",
                             "--fail-on", "new", "--fail-on", "missing"))  # fmt: skip
    assert result["totals"] == {"identical": len(plans), "changed": 0, "new": 0, "missing": 0}
    assert result["decisions_replayed"] == result["decisions_recorded"] > 0
    assert json.loads(report.read_text())["totals"] == result["totals"]
    assert f"| {len(plans)} | 0 | 0 | 0 |" in (tmp_path / "report.md").read_text()
    assert _ends(dep) == before  # a dry run: no topic grew


def test_a_candidate_definition_changes_exactly_the_workflows_it_should(
    recorded: tuple[EngineDeployment, list[Plan]],
) -> None:
    dep, plans = recorded
    before = _ends(dep)
    done = _replay(dep, "--definitions", CANDIDATE, "--json", "--fail-on", "changed")
    result = _result(done, code=3)  # the deploy gate refuses it
    changed = {w["workflow_id"]: w for w in result["workflows"] if w["verdict"] == "changed"}
    expected = {p.workflow_id for p in plans if p.kind == "replied_first"}
    assert set(changed) == expected and expected
    assert result["totals"]["identical"] == len(plans) - len(expected)
    for w in changed.values():
        first = w["first_divergence"]
        # The early reply, held until the ticket could no longer take it: refused before,
        # taken now, while the reply is drafted.
        assert (
            first["recorded"]["event_type"]
            == first["replayed"]["event_type"]
            == ("customer.replied")
        )
        assert (first["recorded"]["decision"], first["recorded"]["rejection_reason"]) == (
            "rejected", "invalid_transition",
        )  # fmt: skip
        assert first["replayed"]["decision"] == "applied"
        assert first["state_before"] == "drafting_reply"
    assert result["needs_new_step_result"] == []  # no new step: history answers them all
    assert _ends(dep) == before
    # A candidate whose new path runs a step history never ran: those workflows are marked.
    redraft = _result(_replay(dep, "--definitions", f"{CANDIDATE_MODULE}:redraft_on_reply",
                              "--json"))  # fmt: skip
    assert set(redraft["needs_new_step_result"]) == expected
    assert {tuple(w["needs_new_step_result"]) for w in redraft["workflows"]
            if w["workflow_id"] in expected} == {("draft_reply",)}  # fmt: skip
    # Without the gate, the same replay exits 0 and says the same.
    assert _result(_replay(dep, "--definitions", CANDIDATE, "--json"))["totals"] == result["totals"]


def test_candidate_steps_run_again_without_a_write_and_call_models_only_when_asked(
    recorded: tuple[EngineDeployment, list[Plan]],
) -> None:
    """``--steps``: every classify runs again as the candidate's handler. The refund tickets,
    now low risk, change at their classify result and need a draft history never made; every
    other ticket decides as before (what a step cost is not a decision). ``--call-models``
    then drafts those replies on the (offline, scripted) model, and nothing is written."""
    dep, plans = recorded
    before = _ends(dep)
    steps = f"{CANDIDATE_MODULE}:classify_all_low_risk"
    refunds = {p.workflow_id for p in plans if p.kind == "refund"}
    tickets = {p.workflow_id for p in plans if p.kind in
               ("low_risk", "refund", "closed_first", "replied_first")}  # fmt: skip
    dry = _result(_replay(dep, "--steps", steps, "--json"))
    changed = {w["workflow_id"]: w for w in dry["workflows"] if w["verdict"] == "changed"}
    assert set(changed) == refunds and refunds
    assert dry["totals"]["identical"] == len(plans) - len(refunds)
    for w in changed.values():
        first = w["first_divergence"]
        assert first["recorded"]["event_type"] == first["replayed"]["event_type"] == \
            "step.completed"  # fmt: skip
        assert first["recorded"]["transition"].endswith("classifying -> proposing_refund")
        assert first["replayed"]["transition"].endswith("classifying -> drafting_reply")
        assert w["needs_new_step_result"] == ["draft_reply"]
    by_id = {w["workflow_id"]: w for w in dry["workflows"]}
    assert {wf for wf, w in by_id.items() if "classify" in w["steps_rerun"]} == tickets
    assert dry["steps_rerun"] == len(tickets)
    assert dry["usage"]["replayed"]["requests"] < dry["usage"]["recorded"]["requests"]
    models = _result(_replay(dep, "--steps", steps, "--call-models", "--json"))
    assert models["needs_new_step_result"] == []
    assert {w["workflow_id"] for w in models["workflows"] if w["verdict"] == "changed"} == refunds
    for wf in refunds:
        assert by_id[wf]["steps_rerun"] == ["classify"]
        rerun = next(w for w in models["workflows"] if w["workflow_id"] == wf)["steps_rerun"]
        assert rerun == ["classify", "draft_reply"]
    assert models["steps_rerun"] == len(tickets) + len(refunds)
    assert _ends(dep) == before
    lonely = _replay(dep, "--call-read-tools")
    assert lonely.returncode == 2 and "add --steps or --call-models" in lonely.stderr
    unknown = _replay(dep, "--steps", f"{CANDIDATE_MODULE}:pausing")
    assert unknown.returncode == 2 and "must return workflows.StepSpec" in unknown.stderr


def test_filters_select_workflows_and_bad_arguments_say_what_to_fix(
    recorded: tuple[EngineDeployment, list[Plan]],
) -> None:
    dep, plans = recorded
    one = plans[3].workflow_id
    only = _result(_replay(dep, "--workflow", one, "--json"))
    assert [w["workflow_id"] for w in only["workflows"]] == [one]
    incidents = _result(_replay(dep, "--definition", "incident_investigation", "--json"))
    assert incidents["totals"]["identical"] == sum(
        1 for p in plans if p.kind in ("resolved_first", "deploy_first")
    )
    text = _replay(dep)
    assert text.returncode == 0 and "Nothing was written." in text.stdout
    backwards = _replay(dep, "--from", "-1h", "--to", "-2h")
    assert backwards.returncode == 2 and "--to is before --from" in backwards.stderr
    assert "Traceback" not in backwards.stderr
    bad_time = _replay(dep, "--from", "yesterday-ish")
    assert bad_time.returncode == 2 and "is not a time" in bad_time.stderr
    missing = run_cli("replay", env={"AGENTFLOW_BOOTSTRAP_SERVERS": dep.bootstrap,
                                     "AGENTFLOW_TOPIC_PREFIX": "nope."})  # fmt: skip
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad_candidate = _replay(dep, "--definitions", "tests.nowhere:registry")
    assert bad_candidate.returncode == 2 and "cannot load" in bad_candidate.stderr


def test_an_offset_window_compares_exactly_the_decisions_of_its_events(
    recorded: tuple[EngineDeployment, list[Plan]],
) -> None:
    """``--from @END,0:MID --to 0:LAST`` selects the second half of partition 0: the workflows
    with an event there are compared (each identical, on those events' decisions only), and no
    other workflow is."""
    dep, _ = recorded
    events = [m for m in read_topic(dep.bootstrap, dep.events) if m.partition == 0]
    mid, last = events[len(events) // 2].offset, events[-1].offset
    chosen = events[len(events) // 2 :]
    beyond = max(m.offset for m in read_topic(dep.bootstrap, dep.events)) + 1
    window = _result(_replay(dep, "--from", f"@{beyond},0:{mid}", "--to", f"0:{last}", "--json"))
    full = _result(_replay(dep, "--json"))
    assert window["events_in_window"] == len(chosen)
    expected = {m.key.decode() for m in chosen if m.key is not None}
    assert {w["workflow_id"] for w in window["workflows"]} == expected
    assert window["totals"] == {"identical": len(expected), "changed": 0, "new": 0, "missing": 0}
    assert 0 < window["decisions_recorded"] == window["decisions_replayed"]
    assert window["decisions_recorded"] < full["decisions_recorded"]
    empty = _replay(dep, "--from", f"@{beyond}")
    assert empty.returncode == 2 and "the window selects none of the" in empty.stderr
    backwards = _replay(dep, "--from", "0:9", "--to", "0:3")
    assert backwards.returncode == 2 and "--to is before --from on partition 0" in backwards.stderr
    assert "Traceback" not in empty.stderr + backwards.stderr


def test_ctrl_c_stops_the_replay_and_writes_a_partial_report(
    recorded: tuple[EngineDeployment, list[Plan]], tmp_path: Path
) -> None:
    """Ctrl-C in mid-history (aimed: the candidate pauses at its 100th lookup and says so)
    ends the replay cleanly, exit 0, with the reports written and marked partial."""
    dep, _ = recorded
    marker, as_json, as_md = tmp_path / "paused", tmp_path / "part.json", tmp_path / "part.md"
    env = cli_env({**dep.cli_env(), PAUSE_FILE_ENV: str(marker)})
    args = ["replay", "--definitions", f"{CANDIDATE_MODULE}:pausing", "--json",
            "--report", str(as_json), "--report", str(as_md)]  # fmt: skip
    proc = subprocess.Popen([*CLI, *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    partial = json.loads(out)
    full = _result(_replay(dep, "--json"))
    assert partial["interrupted"] is True
    assert 0 < partial["events_replayed"] < full["events_replayed"]
    assert json.loads(as_json.read_text())["interrupted"] is True
    assert "(interrupted: partial)" in as_md.read_text()


def test_workflow_show_at_a_time_gives_the_state_the_live_run_had_then(
    recorded: tuple[EngineDeployment, list[Plan]],
) -> None:
    """Every state version the live worker committed to the changelog (a refund's, and a
    ticket whose close was held before it started) is what ``show --at`` rebuilds at the time
    of that version's last decision."""
    dep, plans = recorded
    wanted = {next(p.workflow_id for p in plans if p.kind == k) for k in ("refund", "closed_first")}
    codec = WorkflowStateCodec()
    versions = [codec.decode(m.value) for m in read_topic(dep.bootstrap, dep.workflows_changelog)
                if m.key is not None and m.key.decode() in wanted and m.value]  # fmt: skip
    assert len(versions) >= 4
    for live in versions:
        shown = _result(_replay_show(dep, live.workflow_id, "--at", str(live.updated_at)))
        assert shown["read_from"] == "replay" and shown["events_replayed"] > 0
        expected = json.loads(json.dumps(details(live), default=str))
        assert {k: v for k, v in shown.items() if k in expected} == expected, live.workflow_id
    early = _replay_show(dep, versions[0].workflow_id, "--at", "1")
    assert early.returncode == 2 and "had no state then" in early.stderr


def _replay_show(
    dep: EngineDeployment, workflow_id: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return run_cli("workflow", "show", workflow_id, *args, "--json", env=dep.cli_env(), timeout=120)


def test_a_candidate_policy_through_the_gate_names_exactly_the_events_it_would_quarantine(
    recorded: tuple[EngineDeployment, list[Plan]], tmp_path: Path
) -> None:
    """One more revoked key: every ingress record signed with it, and nothing else, would now
    be quarantined as key_revoked."""
    dep, _ = recorded
    revoked = "monitoring-dev-1"
    ingress = read_topic(dep.bootstrap, dep.ingress)
    expected = {(m.partition, m.offset) for m in ingress
                if dict(m.headers).get("af-key-id") == revoked.encode()}  # fmt: skip
    assert expected and len(expected) < len(ingress)
    policy = json.loads((ROOT / "config" / "policy.json").read_text())
    policy["revoked_key_ids"] = [revoked]
    candidate = tmp_path / "policy.json"
    candidate.write_text(json.dumps(policy))
    before = _ends(dep)
    env = {**SHIPPED_CONFIG, **dep.cli_env()}
    same = run_cli("replay", "--through-gate", "--json", "--fail-on", "changed", env=env)
    assert _result(same)["totals"]["changed"] == 0  # the shipped policy: history as it was
    done = run_cli("replay", "--through-gate", "--policy", str(candidate), "--json",
                   "--fail-on", "changed", env=env, timeout=180)  # fmt: skip
    result = _result(done, code=3)
    changes = result["changes"]
    assert {(c["partition"], c["offset"]) for c in changes} == expected
    assert {(c["recorded"], c["replayed"]) for c in changes} == {
        ("admitted", "quarantined:key_revoked")
    }
    assert result["totals"]["now_quarantined"] == len(expected) and result["records"] == len(
        ingress
    )
    assert _ends(dep) == before
    only_policy = run_cli("replay", "--policy", str(candidate), env=env)
    assert only_policy.returncode == 2 and "use it with --through-gate" in only_policy.stderr


def _wait_for_stopped_workers(dep: EngineDeployment) -> None:
    """A stopped worker's static membership lasts until its session times out."""
    deadline = time.monotonic() + 60
    while not group_is_empty(dep.client_config, dep.app_id):
        assert time.monotonic() < deadline, "the worker group kept its members"
        time.sleep(1)


def test_a_backfill_to_shadow_topics_leaves_the_live_ones_alone(
    recorded: tuple[EngineDeployment, list[Plan]], tmp_path: Path
) -> None:
    """``--to-prefix``: the changed workflows' replayed commands and states go to the shadow
    topics (created beforehand, as `topics ensure` does), once; no live topic moves."""
    dep, plans = recorded
    shadow = EngineDeployment(dep.bootstrap, f"{dep.prefix}shadow.", dep.app_id, tmp_path)
    shadow.create()
    redraft = f"{CANDIDATE_MODULE}:redraft_on_reply"
    expected = {p.workflow_id for p in plans if p.kind == "replied_first"}

    def live_ends() -> dict[tuple[str, int], int]:
        return {k: v for k, v in _ends(dep).items() if not k[0].startswith(shadow.prefix)}

    live = live_ends()
    args = ("--definitions", redraft, "--execute", "--to-prefix", shadow.prefix, "--yes", "--json")
    first = _result(_replay(dep, *args))
    assert set(first["backfill"]["plan"]["workflows"]) == expected
    assert first["backfill"]["written"] > 0
    commands = [
        decode_step_command(m.value or b"") for m in read_topic(dep.bootstrap, shadow.steps)
    ]
    assert sorted((c.workflow_id, c.step) for c in commands) == sorted(
        (wf, step) for wf in expected for step in ("classify", "draft_reply", "draft_reply")
    )
    assert {wf: s.status for wf, s in final_states(shadow).items()} == \
        {wf: "drafting_reply" for wf in expected}  # fmt: skip
    shadow_ends = _ends(shadow)
    second = _result(_replay(dep, *args))
    assert second["backfill"]["written"] == 0
    assert _ends(shadow) == shadow_ends
    assert live_ends() == live


def test_a_backfill_writes_what_changed_once_and_a_second_one_writes_nothing(
    recorded: tuple[EngineDeployment, list[Plan]],
) -> None:
    """Last in this module: it writes to the recorded run's topics. The candidate re-drafts a
    reply on an early customer reply, so the replied_first workflows get a new draft_reply
    command, their changed decisions and their new state, once."""
    dep, plans = recorded
    _wait_for_stopped_workers(dep)
    redraft = f"{CANDIDATE_MODULE}:redraft_on_reply"
    expected = {p.workflow_id for p in plans if p.kind == "replied_first"}
    steps_before = {(m.partition, m.offset) for m in read_topic(dep.bootstrap, dep.steps)}
    first = _result(_replay(dep, "--definitions", redraft, "--execute", "--yes", "--json"))
    plan = first["backfill"]["plan"]
    assert set(plan["workflows"]) == expected
    assert plan["records"][dep.steps] == len(expected)  # one new draft_reply each
    assert plan["records"][dep.workflows_changelog] == len(expected)
    assert first["backfill"]["written"] == sum(plan["records"].values())
    new_commands = [m for m in read_topic(dep.bootstrap, dep.steps)
                    if (m.partition, m.offset) not in steps_before]  # fmt: skip
    assert len(new_commands) == len(expected)
    issued = [decode_step_command(m.value or b"") for m in new_commands]
    assert {(c.workflow_id, c.step) for c in issued} == {(wf, "draft_reply") for wf in expected}
    # The backfilled states are the replayed ones: what `show --at` now rebuilds.
    states = final_states(dep)
    assert all(states[wf].status == "drafting_reply" for wf in expected)
    # Again: every record and state is already there; nothing is written, nothing re-sent.
    ends = _ends(dep)
    second = _result(_replay(dep, "--definitions", redraft, "--execute", "--yes", "--json"))
    assert second["backfill"]["written"] == 0 and second["backfill"]["plan"]["records"] == {}
    assert _ends(dep) == ends
    # Another candidate has something to write, but without --yes and a terminal, it asks and
    # writes nothing.
    asked = _replay(dep, "--definitions", CANDIDATE, "--execute")
    assert asked.returncode == 2 and "confirm with --yes" in asked.stderr
    assert _ends(dep) == ends
