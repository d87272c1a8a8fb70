"""``agentflow replay``: re-run history in dry-run mode and diff every decision."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from agentflow.cli.output import console, print_json
from agentflow.cli.replay_backfill import Backfill, Then
from agentflow.composition import build_deployment, load_factory, load_registry
from agentflow.errors import UserError
from agentflow.gate_config import load_gate
from agentflow.settings import Settings, load_settings
from processors.deployment import Deployment
from processors.engine import OrchestratorProcessor
from replay.diff import WorkflowDiff
from replay.gate_replay import replay_gate
from replay.reader import ReplayError, is_offsets, parse_offsets, parse_time
from replay.report import gate_markdown, markdown
from replay.session import Replay, ReplayResult, Selection
from replay.steps import StepReruns

if TYPE_CHECKING:
    from agentflow.replay_steps import DryRunSteps
from workflows import DefinitionRegistry

#: The exit code when the replay ran but history changed beyond what --fail-on allows.
CHANGED_EXIT = 3


def _candidate(spec: str | None) -> DefinitionRegistry:
    if spec is None:
        return load_registry(load_settings())
    registry = load_factory(spec)
    if not isinstance(registry, DefinitionRegistry):
        raise UserError(
            f"--definitions {spec} returned {type(registry).__name__}, not a "
            "workflows.DefinitionRegistry; the function must take no arguments and return one"
        )
    return registry


@click.command("replay")
@click.option(
    "--from",
    "from_",
    metavar="TIME|OFFSETS",
    help="Compare decisions from this time: ISO (2026-11-30T12:00Z), -2h or epoch ms; or from "
    "these workflow-events offsets: @N (every partition) and/or P:N (partition P), "
    "comma-separated, as in @0,2:300 (a partition not named, with no @N, is not bounded).",
)
@click.option(
    "--to",
    metavar="TIME|OFFSETS",
    help="Replay and compare up to this time or these offsets (same forms; inclusive).",
)
@click.option(
    "--workflow",
    "workflows",
    multiple=True,
    metavar="ID",
    help="Only this workflow (repeat for several).",
)
@click.option("--tenant", help="Only workflows of this tenant.")
@click.option("--definition", help="Only workflows of this definition name.")
@click.option("--event-type", help="Only workflows with a decision on this event type.")
@click.option(
    "--through-gate",
    is_flag=True,
    help="Replay the ingress topic through the gate instead, and diff each record's verdict "
    "(admitted, moved, quarantined and why).",
)
@click.option(
    "--policy",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A candidate gate policy file for --through-gate (default: AGENTFLOW_POLICY_FILE).",
)
@click.option(
    "--definitions",
    "candidate",
    metavar="MODULE:FUNCTION",
    help="Candidate definitions to replay with (a function returning a "
    "DefinitionRegistry); default: AGENTFLOW_WORKFLOWS.",
)
@click.option(
    "--steps",
    "steps_spec",
    metavar="MODULE:FUNCTION",
    help="Candidate step declarations (a function returning StepSpecs) in place of the "
    "same-named ones; every command of those steps runs again (handler steps; model steps "
    "with --call-models) instead of taking history's result.",
)
@click.option(
    "--call-models",
    is_flag=True,
    help="Let steps run again call their models: those of --steps, and any step history has "
    "no result for. Costs what the models cost; the report totals it.",
)
@click.option(
    "--call-read-tools",
    is_flag=True,
    help="Let steps run again call read tools (never a write or high_impact tool: those get "
    "the ledger's recorded outcome, or are refused).",
)
@click.option(
    "--report",
    "reports",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Write the report to this file: .json or .md (repeatable).",
)
@click.option(
    "--fail-on",
    "fail_on",
    multiple=True,
    type=click.Choice(["changed", "new", "missing"]),
    help=f"Exit {CHANGED_EXIT} if any workflow has this verdict (repeatable): a deploy gate.",
)
@click.option(
    "--max-changed",
    type=click.IntRange(min=0),
    metavar="N",
    help=f"Exit {CHANGED_EXIT} if more than N workflows changed.",
)
@click.option(
    "--execute",
    is_flag=True,
    help="Backfill: write what the replay decided otherwise (changed and new workflows), once, "
    "with history's ids. The workers must be stopped, or give --to-prefix.",
)
@click.option(
    "--to-prefix",
    metavar="PREFIX",
    help="With --execute: write to the topics under this prefix instead (shadow topics).",
)
@click.option("--yes", is_flag=True, help="With --execute: do not ask before writing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def replay_cmd(
    from_: str | None,
    to: str | None,
    workflows: tuple[str, ...],
    tenant: str | None,
    definition: str | None,
    event_type: str | None,
    through_gate: bool,
    policy: Path | None,
    candidate: str | None,
    steps_spec: str | None,
    call_models: bool,
    call_read_tools: bool,
    reports: tuple[Path, ...],
    fail_on: tuple[str, ...],
    max_changed: int | None,
    execute: bool,
    to_prefix: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Re-run history in dry-run mode and diff every decision against what happened.

    Reads the workflow-events topic up to its end now (assigned partitions, no consumer
    group), runs the orchestrator with the current or a candidate's definitions over a shadow
    state in a temporary directory, and compares each workflow's decisions with the audit
    topic, byte for byte. Nothing is written to any topic. Each workflow is identical,
    changed (with its first divergent decision), new or missing.

    Exit codes: 0 done; 3 history changed beyond --fail-on / --max-changed; 2 a mistake in
    the arguments or settings. Ctrl-C stops reading and reports what was replayed.
    """
    settings = load_settings()
    now_ms = int(time.time() * 1000)
    for path in reports:
        if path.suffix not in (".json", ".md"):
            raise UserError(f"--report {path}: name a .json or .md file")
    if policy is not None and not through_gate:
        raise UserError("--policy is a candidate for the gate: use it with --through-gate")
    if (to_prefix is not None or yes) and not execute:
        raise UserError("--to-prefix and --yes go with --execute")
    if execute and through_gate:
        raise UserError("--execute backfills the engine's decisions; drop --through-gate")
    reruns = steps_spec is not None or call_models
    if call_read_tools and not reruns:
        raise UserError("--call-read-tools is for steps run again: add --steps or --call-models")
    if reruns and (execute or through_gate):
        raise UserError(
            "--steps and --call-models are for a dry run of the engine: a backfill writes "
            "decisions on history's step results; drop --execute/--through-gate"
        )
    if through_gate:
        _through_gate(settings, policy, frozenset(workflows), reports, fail_on, max_changed,
                      as_json)  # fmt: skip
        return
    step_reruns: StepReruns | None = None
    runner: DryRunSteps | None = None
    try:
        selection = Selection(
            workflow_ids=frozenset(workflows),
            tenant=tenant,
            definition=definition,
            event_type=event_type,
            from_ms=_time(from_, now_ms, "--from"),
            to_ms=_time(to, now_ms, "--to"),
            from_offsets=parse_offsets(from_, "--from") if from_ and is_offsets(from_) else None,
            to_offsets=parse_offsets(to, "--to") if to and is_offsets(to) else None,
        )
        registry = _candidate(candidate)
        if reruns:
            from agentflow.replay_steps import dry_run_reruns  # loads the agent runtime

            registry, step_reruns, runner = dry_run_reruns(
                settings, registry, steps_spec, call_models, call_read_tools
            )
        orchestrator = OrchestratorProcessor(registry)
        deployment = build_deployment(settings, [orchestrator])
        backfill = Backfill(settings, to_prefix) if execute else None
        result = _run(settings.kafka.client_config(), deployment, orchestrator, selection,
                      as_json, backfill.then if backfill else None, step_reruns)  # fmt: skip
        done = backfill.run(yes, as_json) if backfill else None
    except ReplayError as exc:
        raise UserError(str(exc)) from None
    finally:
        if runner is not None:
            runner.close()
    for path in reports:
        text = json.dumps(result.as_dict(), indent=2) if path.suffix == ".json" else \
            markdown(result)  # fmt: skip
        path.write_text(text + ("\n" if path.suffix == ".json" else ""))
    if as_json:
        print_json(result.as_dict() | ({"backfill": done} if done is not None else {}))
    else:
        _print(result, reports)
    changed = result.diff.totals["changed"]
    over = max_changed is not None and changed > max_changed
    if over or any(result.diff.totals[v] for v in fail_on):
        raise SystemExit(CHANGED_EXIT)


def _time(text: str | None, now_ms: int, option: str) -> int | None:
    """``text`` as a time, or None if it is not given or written as offsets."""
    if text is None or is_offsets(text):
        return None
    return parse_time(text, now_ms, option)


def _through_gate(
    settings: Settings,
    policy: Path | None,
    workflows: frozenset[str],
    reports: tuple[Path, ...],
    fail_on: tuple[str, ...],
    max_changed: int | None,
    as_json: bool,
) -> None:
    if policy is not None:
        if not policy.is_file():
            raise UserError(f"--policy {policy}: no such file")
        settings = settings.replace(gate={"policy_file": policy})
    gate = load_gate(settings)
    deployment = build_deployment(settings)
    try:
        result = replay_gate(settings.kafka.client_config(), deployment, gate, workflows)
    except ReplayError as exc:
        raise UserError(str(exc)) from None
    doc = result.as_dict()
    for path in reports:
        text = json.dumps(doc, indent=2) + "\n" if path.suffix == ".json" else \
            gate_markdown(result)  # fmt: skip
        path.write_text(text)
    if as_json:
        print_json(doc)
    else:
        totals = doc["totals"]
        console.print(
            f"Checked {result.records:,} ingress records through the gate in "
            f"{result.seconds:.1f}s: {totals['unchanged']:,} unchanged, {totals['changed']} "
            f"changed ({totals['now_quarantined']} now quarantined, {totals['now_admitted']} "
            "now admitted). Nothing was written.",
            highlight=False,
        )
        for change in result.changes[:50]:
            console.print(f"  {change.event_id or '(no event id)'} [{change.partition}@"
                          f"{change.offset}] {change.recorded} -> {change.replayed}",
                          highlight=False)  # fmt: skip
    over = max_changed is not None and len(result.changes) > max_changed
    if over or ("changed" in fail_on and result.changes):
        raise SystemExit(CHANGED_EXIT)


def _run(
    config: dict[str, Any],
    deployment: Deployment,
    orchestrator: OrchestratorProcessor,
    selection: Selection,
    quiet: bool,
    then: Then | None = None,
    reruns: StepReruns | None = None,
) -> ReplayResult:
    def run(progress: Callable[[int, int], None] | None = None) -> ReplayResult:
        replay = Replay(config, deployment, [orchestrator], selection, progress, reruns)
        replay.keep_emits = then is not None
        after = (lambda result, shadow: then(replay, result, shadow)) if then else None
        return replay.run(after)

    if quiet:
        return run()
    columns = (TextColumn("replaying"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.completed:,.0f} events"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("replay", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, done))

        return run(progress)


def _print(result: ReplayResult, reports: tuple[Path, ...]) -> None:
    totals = result.diff.totals
    console.print(
        f"Replayed {result.events_replayed:,} of {result.events_read:,} events "
        f"({result.topics.get('events')}) in {result.seconds:.1f}s; compared "
        f"{result.decisions_replayed:,} decisions with {result.decisions_recorded:,} recorded. "
        "Nothing was written."
        + (" Interrupted: this report is partial." if result.interrupted else ""),
        highlight=False,
    )
    table = Table("identical", "changed", "new", "missing")
    table.add_row(*(str(totals[v]) for v in ("identical", "changed", "new", "missing")))
    console.print(table)
    differing = [w for w in result.diff.workflows if w.verdict != "identical"]
    for w in differing[:20]:
        _print_divergence(w)
    if len(differing) > 20:
        console.print(f"... and {len(differing) - 20} more (see --report)")
    if result.steps_rerun:
        spent = result.usage.get("replayed", {})
        console.print(
            f"Ran {result.steps_rerun} step(s) again; the compared step results cost "
            f"{spent.get('requests', 0)} model requests, {spent.get('cost_usd', '0')} USD "
            f"(history: {result.usage.get('recorded', {}).get('cost_usd', '0')} USD).",
            highlight=False,
        )
    stuck = result.needs_new_step_result
    if stuck:
        console.print(
            f"{len(stuck)} workflow(s) need a new step result (the replay issued a step history "
            f"never ran; their replay stops there): {', '.join(stuck[:10])}"
            + (" ..." if len(stuck) > 10 else ""),
            highlight=False,
        )
    for path in reports:
        console.print(f"report: {path}")


def _print_divergence(w: WorkflowDiff) -> None:
    first = w.first
    if first is None:  # pragma: no cover - every non-identical diff has one
        return
    table = Table(
        title=f"{w.workflow_id}: {w.verdict} at decision {first.index + 1} "
        f"({first.event}, state {first.state_before})",
        title_justify="left",
    )
    table.add_column("")
    table.add_column("recorded")
    table.add_column("replayed")
    for field in ("decision", "transition", "status_after", "rejection_reason", "commands"):
        was = (first.recorded or {}).get(field)
        now = (first.replayed or {}).get(field)
        table.add_row(field, str(was) if first.recorded else "-",
                      str(now) if first.replayed else "-")  # fmt: skip
    console.print(table)
