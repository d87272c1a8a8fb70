"""A replay's report as Markdown (the JSON report is :meth:`ReplayResult.as_dict`)."""

from __future__ import annotations

from typing import Any

from replay.gate_replay import GateReplayResult
from replay.session import ReplayResult


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|")


def markdown(result: ReplayResult, title: str = "agentflow replay") -> str:
    """Totals, then every workflow that is not identical with its first divergent decision."""
    totals = result.diff.totals
    lines = [
        f"# {title}",
        "",
        f"{result.events_read:,} events read, {result.events_replayed:,} replayed; "
        f"{result.decisions_recorded:,} recorded decisions, {result.decisions_replayed:,} "
        f"replayed, in {result.seconds:.1f}s"
        + (" (interrupted: partial)" if result.interrupted else "")
        + ".",
        "",
        "| identical | changed | new | missing |",
        "|---|---|---|---|",
        f"| {totals['identical']} | {totals['changed']} | {totals['new']} | {totals['missing']} |",
    ]
    if result.needs_new_step_result:
        lines += ["", "Need a new step result (the replay issued a step history never ran): "
                  + ", ".join(result.needs_new_step_result)]  # fmt: skip
    differing = [w for w in result.diff.workflows if w.verdict != "identical"]
    if differing:
        lines += ["", "## Workflows that differ", ""]
        lines += [
            "| workflow | verdict | event | state before | recorded | replayed |",
            "|---|---|---|---|---|---|",
        ]
        for w in differing:
            first = w.first
            if first is None:  # pragma: no cover - every non-identical diff has one
                continue
            lines.append(
                f"| {_cell(w.workflow_id)} | {w.verdict} | {_cell(first.event)} | "
                f"{_cell(first.state_before)} | {_cell(_said(first.recorded))} | "
                f"{_cell(_said(first.replayed))} |"
            )
    return "\n".join(lines) + "\n"


def _said(side: dict[str, Any] | None) -> str:
    """One decision in a few words: kind, transition or reason."""
    if side is None:
        return "(none)"
    detail = side.get("transition") or side.get("rejection_reason") or ""
    return f"{side['decision']} {detail}".strip()


def gate_markdown(result: GateReplayResult, title: str = "agentflow replay --through-gate") -> str:
    """Totals, then every ingress record whose verdict would differ."""
    totals = result.as_dict()["totals"]
    lines = [
        f"# {title}",
        "",
        f"{result.records:,} ingress records checked in {result.seconds:.1f}s"
        + (" (interrupted: partial)" if result.interrupted else "")
        + ".",
        "",
        "| unchanged | changed | now quarantined | now admitted |",
        "|---|---|---|---|",
        f"| {totals['unchanged']} | {totals['changed']} | {totals['now_quarantined']} | "
        f"{totals['now_admitted']} |",
    ]
    if result.changes:
        lines += ["", "| partition | offset | event | workflow | recorded | replayed |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| {c.partition} | {c.offset} | {_cell(c.event_id)} | {_cell(c.workflow_id)} | "
            f"{c.recorded} | {c.replayed} |"
            for c in result.changes
        ]
    return "\n".join(lines) + "\n"
