"""The replay's pure parts: reading times, and the verdict on each workflow's decisions."""

from __future__ import annotations

import pytest

from processors.engine import AuditRecord
from replay.diff import diff_decisions
from replay.reader import ReplayError, parse_time
from replay.report import markdown
from replay.session import ReplayResult, Selection

NOW = 1_800_000_000_000


def _audit(n: int, decision: str = "applied") -> bytes:
    return AuditRecord(audit_id=f"a{n}", workflow_id="wf", event_id=f"e{n}",
                       event_type="ticket.created", decision=decision,  # type: ignore[arg-type]
                       status_before="classifying", decided_at=n).encode()  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [("-2h", NOW - 7_200_000), ("-30m", NOW - 1_800_000), ("-1d", NOW - 86_400_000),
     ("-90s", NOW - 90_000), ("1700000000000", 1_700_000_000_000),
     ("2026-11-30T12:00:00Z", 1_796_040_000_000), ("2026-11-30T12:00:00", 1_796_040_000_000),
     ("2026-11-30T13:00:00+01:00", 1_796_040_000_000)],
)  # fmt: skip
def test_times_are_iso_relative_or_epoch_ms(text: str, expected: int) -> None:
    assert parse_time(text, NOW, "--from") == expected


def test_a_time_it_cannot_read_and_a_backwards_window_say_what_to_give() -> None:
    with pytest.raises(ReplayError, match="--from 'soon' is not a time"):
        parse_time("soon", NOW, "--from")
    with pytest.raises(ReplayError, match="--to is before --from"):
        Selection(from_ms=2, to_ms=1)


def test_each_workflow_gets_a_verdict_and_its_first_divergence() -> None:
    same = [_audit(1), _audit(2)]
    diff = diff_decisions(
        {"same": same, "changed": [_audit(1), _audit(2)], "missing": [_audit(1)]},
        {"same": same, "changed": [_audit(1), _audit(2, "rejected")], "new": [_audit(3)]},
    )
    verdicts = {w.workflow_id: w.verdict for w in diff.workflows}
    assert verdicts == {"same": "identical", "changed": "changed", "missing": "missing",
                        "new": "new"}  # fmt: skip
    assert diff.totals == {"identical": 1, "changed": 1, "new": 1, "missing": 1}
    [changed] = diff.of("changed")
    assert changed.first is not None and changed.first.index == 1
    assert changed.first.recorded is not None and changed.first.replayed is not None
    assert (changed.first.recorded["decision"], changed.first.replayed["decision"]) == (
        "applied", "rejected",
    )  # fmt: skip
    assert changed.first.state_before == "classifying"
    # A replay that decides more than was recorded is changed where the extra one starts.
    longer = diff_decisions({"w": [_audit(1)]}, {"w": [_audit(1), _audit(2)]}).workflows[0]
    assert (longer.verdict, longer.first and longer.first.recorded) == ("changed", None)


def test_the_markdown_report_shows_totals_and_each_first_divergence() -> None:
    diff = diff_decisions({"wf-1": [_audit(1)], "wf-2": [_audit(1)]},
                          {"wf-1": [_audit(1, "rejected")], "wf-2": [_audit(1)]})  # fmt: skip
    result = ReplayResult(diff, events_read=4, events_replayed=4, decisions_recorded=2,
                          decisions_replayed=2, seconds=0.5)  # fmt: skip
    text = markdown(result)
    assert "| 1 | 1 | 0 | 0 |" in text
    assert "| wf-1 | changed | ticket.created e1 | classifying | applied | rejected |" in text
    assert "wf-2" not in text  # identical workflows are only counted
