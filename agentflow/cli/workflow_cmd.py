"""``agentflow workflow show | list``: a workflow's state and timeline."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.table import Table

from agentflow.cli.output import console, print_json
from agentflow.errors import UserError
from agentflow.settings import load_settings
from agentflow.workflow_query import WorkflowReader, details, summary
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


@workflow_group.command("show")
@click.argument("workflow_id")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def show_cmd(workflow_id: str, as_json: bool) -> None:
    """Show WORKFLOW_ID's state and its timeline of events and transitions."""
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
