"""The gate processor on the test driver (the host's own PartitionTask): validated or
quarantined, one output per input, never a processor error, mis-partitioned records moved."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from examples.workflows import example_registry
from processors.contract import Headers, Record
from processors.deployment import Deployment
from processors.engine import OrchestratorProcessor
from processors.events import decode
from processors.gate import EVENTS_ROLE, GATE_REASONS, INGRESS_ROLE, GateProcessor
from processors.partitioning import partition_for
from processors.pipeline import WorkflowPipeline
from processors.quarantine import read_quarantine
from processors.roles import QUARANTINE_ROLE
from streams.driver import TestDriver
from tests import gatekit as gk
from tests.gatekit import NOW_MS, PARTITIONS
from tests.unit.test_gate_fuzz import ANY_RECORD, FUZZ, GOOD, assert_exactly_one_outcome

GATE = gk.make_gate()
DEPLOYMENT = Deployment.create(
    "t",
    PARTITIONS,
    {"ingress": "agentflow.ingress", "events": "agentflow.workflow-events", "quarantine": "q"},
    topic_prefix="t.",
)


def gate_driver(data_dir: Path) -> TestDriver:
    return TestDriver(
        [GateProcessor(GATE)],
        data_dir,
        partitions=PARTITIONS,
        start_ms=NOW_MS,
        deployment=DEPLOYMENT,
    )


def pipe(driver: TestDriver, record: Record) -> list[Any]:
    return driver.pipe(
        record.role, record.key, record.value, record.headers, partition=record.partition
    )


def test_should_validate_good_events_and_quarantine_bad_ones_with_their_reasons(
    tmp_path: Path,
) -> None:
    expected: Counter[str] = Counter()
    good_ids: list[str] = []
    with gate_driver(tmp_path) as driver:
        for i in range(120):
            ev = gk.good_event(i, NOW_MS)
            good_ids.append(ev.event_id)
            assert (
                len(driver.pipe(INGRESS_ROLE, ev.key, *_vh(gk.signed(ev, as_json=i % 2 == 1)))) == 1
            )
            kind = sorted(gk.BAD_KINDS)[i % len(gk.BAD_KINDS)]
            bad, reason = gk.bad_record(
                kind, ev.model_copy(update={"event_id": f"bad-{i}"}), NOW_MS
            )
            expected[reason] += 1
            assert len(driver.pipe(INGRESS_ROLE, bad.key, bad.value, bad.headers)) == 1
        events = driver.read(EVENTS_ROLE)
        quarantined = driver.read(QUARANTINE_ROLE)
        assert driver.read(INGRESS_ROLE) == []
        assert driver.counters.poison == 0
        assert driver.counters.processed == 240
    assert [decode(e.value or b"").event_id for e in events] == good_ids
    assert Counter(read_quarantine(q.value or b"")["reason"] for q in quarantined) == expected
    assert set(expected) == set(GATE_REASONS)


def _vh(raw: gk.Raw) -> tuple[bytes | None, Headers]:
    return raw.value, raw.headers


def test_should_move_a_misrouted_record_then_validate_it_on_its_partition(tmp_path: Path) -> None:
    ev = gk.event(workflow_id="wf-acme-1001")
    raw = gk.signed(ev)
    home = partition_for(ev.key, PARTITIONS)
    wrong = (home + 2) % PARTITIONS
    with gate_driver(tmp_path) as driver:
        [moved] = driver.pipe(INGRESS_ROLE, raw.key, raw.value, raw.headers, partition=wrong)
        assert (moved.role, moved.partition) == (INGRESS_ROLE, home)
        assert (moved.key, moved.value, moved.headers) == (raw.key, raw.value, raw.headers)
        assert driver.read(EVENTS_ROLE) == [] and driver.read(QUARANTINE_ROLE) == []
        # What the host does with the emit: produce it to the ingress topic, on that partition.
        [validated] = driver.pipe(
            moved.role, moved.key, moved.value, moved.headers, partition=moved.partition
        )
        assert validated.role == EVENTS_ROLE
        assert validated.value == raw.value
        assert driver.counters.poison == 0


def test_should_quarantine_on_the_partition_it_landed_when_the_key_is_missing(
    tmp_path: Path,
) -> None:
    with gate_driver(tmp_path) as driver:
        [out] = driver.pipe(INGRESS_ROLE, None, b"v", (), partition=3)
        body = read_quarantine(out.value or b"")
        assert (out.role, body["reason"], body["original_partition"]) == (
            QUARANTINE_ROLE,
            "missing_key",
            3,
        )
        assert body["original_topic"] == "t.agentflow.ingress"


_DATA_DIR = Path(tempfile.gettempdir()) / "agentflow-gate-driver-unused"  # the gate keeps no tables


@FUZZ
@given(ANY_RECORD)
def test_any_record_ends_in_exactly_one_outcome_and_never_a_processor_error(
    record: Record,
) -> None:
    with gate_driver(_DATA_DIR) as driver:
        emits = pipe(driver, record)
        assert driver.counters.poison == 0, emits
        outcome = assert_exactly_one_outcome(GATE, record, emits)
        assert {
            "validated": EVENTS_ROLE,
            "quarantined": QUARANTINE_ROLE,
            "rerouted": INGRESS_ROLE,
        }[outcome] == emits[0].role


@FUZZ
@given(st.lists(st.tuples(GOOD, st.sampled_from(["good", *sorted(gk.BAD_KINDS)])), max_size=12))
def test_a_mixed_stream_splits_exactly_into_validated_and_quarantined(
    items: list[tuple[Any, str]],
) -> None:
    with gate_driver(_DATA_DIR) as driver:
        want: Counter[str] = Counter()
        for ev, kind in items:
            if kind == "good":
                raw, reason = gk.signed(ev), "validated"
            else:
                raw, reason = gk.bad_record(kind, ev, NOW_MS)
            want[reason] += 1
            assert len(driver.pipe(INGRESS_ROLE, raw.key, raw.value, raw.headers)) == 1
        got = Counter(read_quarantine(q.value or b"")["reason"] for q in driver.read("quarantine"))
        got["validated"] = len(driver.read(EVENTS_ROLE))
        assert +got == +want
        assert driver.counters.poison == 0


def test_the_default_driver_routes_like_the_host_for_the_whole_pipeline(tmp_path: Path) -> None:
    """No deployment given: the driver still knows its partition count, as the host does, so
    a record on the wrong partition is moved before the gate or the engine sees it."""
    ev = gk.event(workflow_id="wf-acme-1001")
    raw = gk.signed(ev)
    home = partition_for(ev.key, PARTITIONS)
    wrong = (home + 1) % PARTITIONS
    pipeline = WorkflowPipeline(GATE, OrchestratorProcessor(example_registry()))
    with TestDriver([pipeline], tmp_path, partitions=PARTITIONS, start_ms=NOW_MS) as driver:
        [moved] = driver.pipe(INGRESS_ROLE, raw.key, raw.value, raw.headers, partition=wrong)
        assert (moved.role, moved.partition) == (INGRESS_ROLE, home)
        assert driver.state("workflows", ev.key, partition=wrong) is None
        driver.pipe(moved.role, moved.key, moved.value, moved.headers, partition=home)
        assert driver.state("workflows", ev.key) is not None  # decided on its home partition
