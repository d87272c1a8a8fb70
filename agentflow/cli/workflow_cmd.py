"""``agentflow workflow show | list``: a workflow's state and timeline."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from agentflow.cli.output import console, print_json
from agentflow.composition import build_deployment, load_registry
from agentflow.errors import UserError
from agentflow.settings import load_settings
from agentflow.workflow_query import WorkflowReader, details, summary
from processors.engine import WORKFLOWS, OrchestratorProcessor, WorkflowState
from replay.point import state_at
from replay.reader import ReplayError, parse_time
from streams.errors import StartupError


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _reader() -> WorkflowReader:
    try:
        return WorkflowReader(load_settings())
    except StartupError as exc:
        raise UserError(str(exc)) from None


@click.group("workflow")
def workflow_group() -> None:
    """Read workflow state (committed state: local store plus changelog)."""


def _state_at(
    workflow_id: str, at: str | None, at_offset: int | None
) -> tuple[WorkflowState | None, dict[str, Any]]:
    """The state rebuilt from workflow-events at a time or offset (a replay of its events)."""
    settings = load_settings()
    orchestrator = OrchestratorProcessor(load_registry(settings))
    deployment = build_deployment(settings, [orchestrator])
    try:
        at_ms = parse_time(at, int(time.time() * 1000), "--at") if at is not None else None
        state, events = state_at(settings.kafka.client_config(), deployment, [orchestrator],
                                 WORKFLOWS, workflow_id, at_ms, at_offset)  # fmt: skip
    except ReplayError as exc:
        raise UserError(str(exc)) from None
    where = {"at_ms": at_ms} if at_ms is not None else {"at_offset": at_offset}
    if state is not None and not isinstance(state, WorkflowState):  # pragma: no cover
        raise UserError(f"the workflows table holds no workflow state for {workflow_id!r}")
    return state, {"read_from": "replay", **where, "events_replayed": events}


@workflow_group.command("show")
@click.argument("workflow_id")
@click.option(
    "--at",
    metavar="TIME",
    help="The state as it was then, rebuilt from workflow-events: ISO, -2h, or epoch ms.",
)
@click.option(
    "--at-offset",
    type=click.IntRange(min=0),
    metavar="N",
    help="The state after the events read up to offset N of its workflow-events partition.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def show_cmd(workflow_id: str, at: str | None, at_offset: int | None, as_json: bool) -> None:
    """Show WORKFLOW_ID's state and its timeline of events and transitions: the committed
    state now, or (--at, --at-offset) as it was at a point, replayed from the log."""
    if at is not None and at_offset is not None:
        raise UserError("give --at or --at-offset, not both")
    if at is not None or at_offset is not None:
        state, source = _state_at(workflow_id, at, at_offset)
        if state is None:
            raise UserError(f"workflow {workflow_id!r} had no state then (no event of it yet)")
        data = details(state) | source
    else:
        reader = _reader()
        try:
            state, read = reader.show(workflow_id)
        finally:
            reader.close()
        if state is None:
            raise UserError(
                f"no workflow {workflow_id!r} in partition {read.partition} of {reader.topic}; "
                "check the id, AGENTFLOW_TOPIC_PREFIX and AGENTFLOW_APP_ID"
            )
        data = details(state) | {"partition": read.partition, "read_from": read.source}
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]{state.workflow_id}[/]  {state.definition_name} v{state.definition_version}  "
        f"tenant {state.tenant}  status [bold]{state.status}[/]"
        + (f"  outcome {state.final_outcome}" if state.final_outcome else "")
    )
    if state.pending_approvals:
        for a in state.pending_approvals:
            console.print(
                f"waiting for approval {a.approval_id} of {a.step} (due {_time(a.due_at)})"
            )
    for held in state.held:
        console.print(f"holding {held.event_type} {held.event_id} until it may apply")
    timeline = Table("time", "event", "type", "transition", "step")
    for h in state.history:
        timeline.add_row(
            _time(h.at),
            h.event_id,
            h.event_type,
            f"{h.from_state or '(start)'} → {h.to_state}",
            h.step or "",
        )
    console.print(timeline)


@workflow_group.command("list")
@click.option("--tenant", help="Only this tenant's workflows.")
@click.option("--status", help="Only workflows in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print one object per workflow.")
def list_cmd(tenant: str | None, status: str | None, as_json: bool) -> None:
    """List workflows, optionally by tenant and status."""
    reader = _reader()
    try:
        states = [
            s
            for s in reader.all_states()
            if s.status is not None
            and (tenant is None or s.tenant == tenant)
            and (status is None or s.status == status)
        ]
    finally:
        reader.close()
    states.sort(key=lambda s: s.workflow_id)
    if as_json:
        print_json([summary(s) for s in states])
        return
    table = Table("workflow_id", "definition", "tenant", "status", "outcome", "updated")
    for s in states:
        table.add_row(
            s.workflow_id,
            f"{s.definition_name} v{s.definition_version}",
            s.tenant,
            s.status,
            s.final_outcome or "",
            _time(s.updated_at),
        )
    console.print(table)
    console.print(f"{len(states)} workflow(s)")
