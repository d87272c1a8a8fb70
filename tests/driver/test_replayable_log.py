"""The events log is the history of record: a fresh engine replaying it decides everything the
live run decided, byte for byte, across workflows and partitions, duplicates, held events
(released, refused and expired) and fired deadlines, with time moving on between them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agentflow.testing import WorkflowHarness
from examples.workflows import example_registry
from processors.engine import AuditRecord, OrchestratorProcessor, StepCommand
from processors.events import TimerFiredV1, decided_at, decode
from processors.roles import AUDIT_ROLE, EVENTS_ROLE
from streams.driver import TestDriver
from workflows.definition import DEFAULT_PENDING_TIMEOUT_MS

HOUR_MS = 3_600_000


def command(h: WorkflowHarness) -> StepCommand:
    """The last step command issued to ``h``'s workflow (the driver's others are dropped)."""
    return [c for c in h.commands() if c.workflow_id == h.workflow_id][-1]


def test_a_replay_of_the_events_log_decides_exactly_what_the_live_run_did(tmp_path: Path) -> None:
    with TestDriver([OrchestratorProcessor(example_registry())], tmp_path) as driver:
        flows = {n: WorkflowHarness(driver, f"wf-replay-{n}") for n in
                 ("low", "held", "expires", "orphan", "retried", "escalates")}  # fmt: skip
        low, held, expires, orphan, retried, escalates = flows.values()
        # A low-risk ticket, its created event sent twice (a duplicate).
        created = low.events.ticket_created("Password reset")
        low.send(created)
        low.send(created)
        low.send(low.events.step_completed(command(low), {"outcome": "low_risk"}))
        low.send(low.events.step_completed(command(low), {"outcome": "drafted"}))
        # A close that arrives before its ticket: held, then applied when the ticket starts.
        held.send(held.events.ticket_closed())
        driver.advance_time(1_000)
        held.send(held.events.ticket_created())
        # A reply that arrives while the ticket is still classified: held until it expires.
        expires.send(expires.events.ticket_created())
        expires.send(expires.events.customer_replied())
        # A reply to a ticket that never starts: an orphan, expired.
        orphan.send(orphan.events.customer_replied())
        # A step that fails transiently, then succeeds on its retry.
        retried.send(retried.events.ticket_created("Charged twice"))
        first = command(retried)
        retried.send(retried.events.step_failed(first, "transient", "timeout"))
        retried.send(retried.events.step_completed(command(retried), {"outcome": "refund"}))
        # An approval nobody answers: the deadline fires and the ticket escalates.
        escalates.send(escalates.events.ticket_created("Charged twice"))
        escalates.send(escalates.events.step_completed(command(escalates),
                                                      {"outcome": "refund"}))  # fmt: skip
        proposal = {"outcome": "proposed", "amount": "42.00", "currency": "EUR"}
        escalates.send(escalates.events.step_completed(command(escalates), proposal))
        driver.advance_time(DEFAULT_PENDING_TIMEOUT_MS + 1_000)  # the holds expire
        driver.advance_time(48 * HOUR_MS)  # the approval deadline passes

        kinds = Counter(AuditRecord.decode(r.value or b"").decision
                        for r in driver.topic_log(AUDIT_ROLE))  # fmt: skip
        assert kinds["duplicate"] == 1 and kinds["held"] == 3 and kinds["expired"] == 2
        assert kinds["retried"] == 1
        assert (expires.state().status, escalates.state().status) == ("classifying", "escalated")
        # The engine wrote its timer events to the log, each stamped with the time it decided.
        logged = [(decode(r.value or b""), decided_at(r.headers))
                  for r in driver.topic_log(EVENTS_ROLE)]  # fmt: skip
        made = [(e, at) for e, at in logged if isinstance(e, TimerFiredV1)]
        assert sorted(e.payload.kind for e, _ in made) == ["approval_deadline", "hold", "hold"]
        assert all(at is not None for _, at in logged)
        compared = low.assert_replays_identically()
        assert compared == sum(kinds.values())
