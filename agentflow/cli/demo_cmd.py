"""``agentflow demo``: the main job on sample events, printed as it happens."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.table import Table

from agentflow.cli.output import console, print_json
from agentflow.workflow_query import details


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for the end.")
def demo_cmd(as_json: bool, timeout: float) -> None:
    """Run the pipeline on sample events: a worker (gate + orchestrator), the step runner, the
    example payments and status services, and signed events for twelve workflows of two
    tenants (a refund approved with an edited amount, one approved as proposed, one denied, a
    model that answers badly once, one that reaches for a tool it may not use, one that is
    rate-limited, a ticket that needs the customer's details, two incidents, an early close),
    a duplicate and a forged event."""

    def echo(message: str) -> None:
        if not as_json:  # plain text: a subject such as "[sloppy] ..." is not rich markup
            console.print(message, highlight=False, markup=False)

    # Imported here: the demo starts the step runner's machinery (pydantic-ai), seconds of
    # import that no other command should pay.
    from agentflow.demo import run_demo

    run = run_demo(echo, timeout_s=timeout)
    if as_json:
        print_json(
            {
                "run_id": run.run_id,
                "workflows": [
                    details(s) | {"scenario": run.workflows[wf], "outputs": run.outputs.get(wf, [])}
                    for wf, s in sorted(run.states.items())
                ],
                "quarantined": run.quarantined,
                "decisions": run.decisions,
                "worker": run.worker_stats,
                "payments_calls": run.payments,
                "seconds": round(run.seconds, 2),
            }
        )
        return
    for wf, state in sorted(run.states.items()):
        table = Table(
            title=f"{wf}: {run.workflows[wf]} → [bold]{state.status}[/]", title_justify="left"
        )
        for column in ("time", "event", "transition", "step"):
            table.add_column(column)
        for h in state.history:
            table.add_row(
                _clock(h.at),
                h.event_type,
                f"{h.from_state or '(start)'} → {h.to_state}",
                h.step or "",
            )
        console.print(table)
        for step_call in state.step_calls:
            if step_call.status != "completed":
                continue
            usage = step_call.usage
            ran = "plain Python" if usage is None else (
                f"{usage.model}, {usage.input_tokens}+{usage.output_tokens} "
                f"tokens, {usage.requests} requests")  # fmt: skip
            tools = ", ".join(f"{t.tool} ({t.impact}, {t.status})" for t in step_call.tool_calls)
            console.print(f"  {step_call.step}: {ran}; tools: {tools or 'none'}", highlight=False)
        console.print(f"  outputs topic: {', '.join(run.outputs.get(wf, [])) or 'nothing'}",
                      highlight=False)  # fmt: skip
    for call in run.payments:
        effect = "refunded" if call["effective"] else "replayed, no money moved"
        console.print(f"payments: {call['body'].get('amount')} {call['body'].get('currency')} "
                      f"for {call['body'].get('reference')} with Idempotency-Key "
                      f"{call['key']}: {effect}", highlight=False)  # fmt: skip
    for q in run.quarantined:
        console.print(f"quarantined: {q['event_id']} [bold]{q['reason']}[/] ({q['detail']})")
    stats = run.worker_stats
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(run.decisions.items()))
    console.print(
        f"\n{len(run.states)} workflows finished in {run.seconds:.1f}s. Orchestrator decisions: "
        f"{kinds}. The worker processed {stats.get('records', 0)} records in "
        f"{stats.get('commits', 0)} transactions, {stats.get('poison_records', 0)} poison."
    )
    console.print(
        "The duplicate ticket.created was dropped by its event id; the early ticket.closed was "
        "held until its ticket.created; the classify result for the ticket that closed "
        "meanwhile was recorded as ignored (a late answer, not bad input); only the forged "
        "event was quarantined. Each approved refund paid what its reviewer approved (30.00 "
        "after an edit, 42.00 as proposed), once, under its ledger key; the denied one was "
        "withdrawn; the sloppy classifier was asked again, the overreaching one was refused "
        "its tool, the rate-limited one waited and retried, the vague ticket waited for the "
        "customer's details. Try "
        "`agentflow workflow show <id> --json` (usage, tool calls, results) and `agentflow "
        "quarantine list`.",
        style="dim",
    )
