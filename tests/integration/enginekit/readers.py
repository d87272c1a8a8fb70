"""Reading back what an engine deployment committed: every record of a topic up to its end,
the final workflow states, and the records on ``outputs``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from processors.engine import WORKFLOW_NOTICE, WorkflowState, WorkflowStateCodec, decode_notice
from processors.events import Envelope, decode, decode_record
from tests.integration.enginekit.deployment import PARTITIONS, EngineDeployment


@dataclass(frozen=True)
class Msg:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def reader(bootstrap: str, **extra: Any) -> Consumer:
    """A consumer of its own group that reads committed records, unless ``extra`` says else."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"engine-reader-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "log_level": 3,
            **extra,
        }
    )


def read_topics(
    bootstrap: str,
    topics: Sequence[str],
    partitions: int = PARTITIONS,
    timeout: float = 60.0,
    committed: bool = True,
) -> dict[str, list[Msg]]:
    """Every committed record of each of ``topics``, up to its current end
    (``committed=False``: every record written, aborted ones included)."""
    isolation = "read_committed" if committed else "read_uncommitted"
    consumer = reader(bootstrap, **{"enable.partition.eof": True, "isolation.level": isolation})
    consumer.assign(
        [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(partitions)]
    )
    out: dict[str, list[Msg]] = {t: [] for t in topics}
    at_end: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < len(topics) * partitions:
            if time.monotonic() > deadline:
                raise AssertionError(f"reading {topics} saw no end in {timeout:.0f}s")
            for m in consumer.consume(5000, 0.05):
                tp = (m.topic(), m.partition())
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_end.add(tp)
                        continue
                    raise AssertionError(f"reading {tp}: {err.str()}")
                at_end.discard(tp)
                headers = tuple(m.headers() or ())
                out[tp[0]].append(Msg(*tp, m.offset(), m.key(), m.value(), headers))
    finally:
        consumer.close()
    return out


def read_topic(
    bootstrap: str,
    topic: str,
    partitions: int = PARTITIONS,
    timeout: float = 60.0,
    committed: bool = True,
) -> list[Msg]:
    """:func:`read_topics` for one topic."""
    return read_topics(bootstrap, [topic], partitions, timeout, committed)[topic]


def final_states(dep: EngineDeployment) -> dict[str, WorkflowState]:
    """The latest committed value of every key of the ``workflows`` changelog."""
    codec = WorkflowStateCodec()
    latest: dict[bytes, bytes | None] = {}
    for m in read_topic(dep.bootstrap, dep.workflows_changelog, dep.partitions):
        assert m.key is not None
        latest[m.key] = m.value
    return {k.decode(): codec.decode(v) for k, v in latest.items() if v is not None}


def decode_output(value: bytes) -> Envelope | Any:
    """An ``outputs`` record: a WorkflowNotice or an event (``approval.requested``)."""
    name, _ = decode_record(value)
    return decode_notice(value) if name == WORKFLOW_NOTICE else decode(value)


def output_id(value: bytes) -> str:
    out = decode_output(value)
    return out.event_id if isinstance(out, Envelope) else out.notice_id
