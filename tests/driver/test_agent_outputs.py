"""Agent outputs for downstream consumers: a step that ``publishes`` has its result sent as a
typed event on the outputs topic, keyed by workflow id, with an id derived from the result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentflow.testing import WorkflowHarness
from examples.workflows import example_registry
from processors.engine import OrchestratorProcessor, ids
from processors.events import Envelope
from processors.events.catalog import RefundRecommendedV1, ReplyDraftedV1
from streams.driver import TestDriver

WF = "wf-out-1"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[WorkflowHarness]:
    with TestDriver([OrchestratorProcessor(example_registry())], tmp_path) as driver:
        yield WorkflowHarness(driver, WF)


def _events(h: WorkflowHarness) -> list[Envelope]:
    return [o for o in h.outputs() if isinstance(o, Envelope)]


def test_a_drafted_reply_is_published_once_with_a_derived_id(h: WorkflowHarness) -> None:
    h.send(h.events.ticket_created())
    h.send(h.events.step_completed(h.command(), {"outcome": "low_risk"}))
    reply = {"outcome": "drafted", "ticket_id": "T-1", "text": "We are on it."}
    drafted = h.events.step_completed(h.command(), reply)
    h.send(drafted)
    [published] = _events(h)
    assert isinstance(published, ReplyDraftedV1)
    assert published.event_id == ids.derive_id(drafted.event_id, "publish:reply.drafted")
    assert (published.payload.ticket_id, published.payload.text) == ("T-1", "We are on it.")
    assert (published.workflow_id, published.tenant, published.causation_id) == (
        WF, "acme", drafted.event_id,
    )  # fmt: skip
    h.send(drafted)  # a redelivered answer is a duplicate: nothing is published again
    assert _events(h) == []


def test_a_refund_recommendation_is_published_before_the_approval(h: WorkflowHarness) -> None:
    h.send(h.events.ticket_created())
    h.send(h.events.step_completed(h.command(), {"outcome": "refund"}))
    proposal = {"outcome": "proposed", "amount": "42.00", "currency": "EUR", "ticket_id": "T-1"}
    h.send(h.events.step_completed(h.command(), proposal))
    kinds = [type(e).__name__ for e in _events(h)]
    assert kinds == ["RefundRecommendedV1", "ApprovalRequestedV1"]


def test_a_result_without_the_payloads_fields_is_not_published(h: WorkflowHarness) -> None:
    h.send(h.events.ticket_created())
    h.send(h.events.step_completed(h.command(), {"outcome": "low_risk"}))
    h.send(h.events.step_completed(h.command(), {"outcome": "drafted"}))  # a foreign worker's
    assert _events(h) == []
    assert h.state().status == "done"  # the workflow goes on all the same
    assert not any(isinstance(e, RefundRecommendedV1) for e in _events(h))
