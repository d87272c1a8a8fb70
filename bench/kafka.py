"""Kafka helpers of the bench: topics, the shared input data, and reading outputs back."""

from __future__ import annotations

import os
import random
import string
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

OUTPUT_TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}
CHANGELOG_TOPIC_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})


def create_topics(
    bootstrap: str, names: list[str], partitions: int, config: dict[str, str] | None = None
) -> None:
    """Create ``names`` (replication factor 1) and wait until the broker reports them."""
    client = admin(bootstrap)
    futures = client.create_topics(
        [NewTopic(n, partitions, 1, config=dict(config or {})) for n in names],
        operation_timeout=30,
    )
    for fut in futures.values():
        fut.result()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        topics = client.list_topics(timeout=10).topics
        if all(n in topics and len(topics[n].partitions) == partitions for n in names):
            return
        time.sleep(0.1)
    raise TimeoutError(f"topics {names} did not appear")


def delete_topics_containing(bootstrap: str, tag: str) -> list[str]:
    """Delete every topic whose name contains ``tag`` (the run's unique tag); their names."""
    client = admin(bootstrap)
    names = sorted(t for t in client.list_topics(timeout=10).topics if tag in t)
    if names:
        for fut in client.delete_topics(names, operation_timeout=30).values():
            try:
                fut.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
    return names


# -- input ------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputData:
    """The bench input: record ``i`` has key ``k<i % keys>`` and a ~``value_size``-byte value.

    Values are pseudo-random letters and digits from a fixed seed, so every contender reads
    the same bytes and compression would not shrink them much.
    """

    records: int
    keys: int
    value_size: int
    seed: int = 42
    _pool: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        alphabet = string.ascii_letters + string.digits
        pool = "".join(rng.choice(alphabet) for _ in range(self.value_size + 4099)).encode()
        object.__setattr__(self, "_pool", pool)

    def key(self, i: int) -> bytes:
        return b"k%d" % (i % self.keys)

    def value(self, i: int) -> bytes:
        head = b"%012d:" % i
        start = (i * 7919) % 4096
        return head + self._pool[start : start + self.value_size - len(head)]

    def items(self, n: int | None = None) -> Iterator[tuple[bytes, bytes]]:
        for i in range(self.records if n is None else n):
            yield self.key(i), self.value(i)

    def expected_counts(self, n: int) -> dict[bytes, int]:
        """Per key, the count of its last output after ``n`` inputs."""
        counts: dict[bytes, int] = {}
        for i in range(n):
            k = self.key(i)
            counts[k] = counts.get(k, 0) + 1
        return counts


def produce_input(bootstrap: str, topic: str, data: InputData, n: int) -> float:
    """Produce the first ``n`` records (acks=all, Java murmur2 partitioner); seconds taken."""
    _, seconds = produce_records(bootstrap, topic, ((k, v, None) for k, v in data.items(n)))
    return seconds


# -- output -----------------------------------------------------------------------------
def partition_ends(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """The high watermark of each partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-ends", "log_level": 3})
    try:
        out = {}
        for p in range(partitions):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            out[p] = max(high, 0)
        return out
    finally:
        consumer.close()


def end_offsets(consumer: Consumer, topic: str, partitions: int) -> int:
    """Sum of the high watermarks (includes transaction markers and aborted records)."""
    total = 0
    for p in range(partitions):
        try:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
        except KafkaException:
            return -1
        total += max(high, 0)
    return total


def parse_count(key: bytes, value: bytes) -> int | None:
    """The counter's output value ``<input value>|<count>``: the count, or None."""
    _, sep, tail = value.rpartition(b"|")
    return int(tail) if sep and tail.isdigit() else None


#: Reads one output record: the key's running count (checked against the input), or None if
#: the value is not what the contender should write.
Parser = Callable[[bytes, bytes], "int | None"]


@dataclass
class OutputSummary:
    """What a read_committed consumer found on a contender's output topic."""

    parse: Parser | None = field(default=parse_count, repr=False)
    records: int = 0
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None
    log_append_time: bool = True
    # Per key, the highest count seen, to check that no input was skipped.
    max_count: dict[bytes, int] = field(default_factory=dict)
    unparsable: int = 0
    # CPU seconds the contender process used while its output offsets grew by window_offsets
    # (sampled with the watermarks every 0.25 s; offsets include transaction markers).
    window_offsets: int = 0
    window_cpu_s: float = 0.0

    @property
    def events_per_cpu_s(self) -> float | None:
        if self.window_offsets <= 0 or self.window_cpu_s <= 0:
            return None
        return self.window_offsets / self.window_cpu_s

    @property
    def seconds(self) -> float:
        if self.first_ts_ms is None or self.last_ts_ms is None:
            return 0.0
        return (self.last_ts_ms - self.first_ts_ms) / 1000

    @property
    def events_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def add(self, msg: Any) -> None:
        ts_type, ts = msg.timestamp()
        if ts_type != TIMESTAMP_LOG_APPEND_TIME:
            self.log_append_time = False
        self.records += 1
        if self.first_ts_ms is None or ts < self.first_ts_ms:
            self.first_ts_ms = ts
        if self.last_ts_ms is None or ts > self.last_ts_ms:
            self.last_ts_ms = ts
        if self.parse is None:
            return
        key = msg.key() or b""
        count = self.parse(key, msg.value() or b"")
        if count is None:
            self.unparsable += 1
            return
        if count > self.max_count.get(key, 0):
            self.max_count[key] = count


def wait_for_outputs(
    bootstrap: str,
    topic: str,
    partitions: int,
    expected: int,
    alive: Callable[[], bool],
    cpu_seconds: Callable[[], float | None],
    timeout_s: float,
    stall_s: float,
    progress: Callable[[str], None],
    parse: Parser | None = parse_count,
    start: dict[int, int] | None = None,
) -> tuple[OutputSummary, str]:
    """Wait until ``expected`` committed outputs arrived; (summary, how it ended).

    ``start`` (partition -> offset) reads only what comes after those offsets (default: all).

    Until the end offsets reach ``expected`` only watermarks are polled (cheap, so the
    contender keeps the CPU); then one read_committed consumer reads everything. It ends
    with "complete", "timeout", "stalled" or "exited" (the contender process died).
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{time.time_ns()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.max.bytes": 50 * 1024 * 1024,
            "log_level": 3,
        }
    )
    summary = OutputSummary(parse)
    base = sum((start or {}).values())
    started = time.monotonic()
    last_end, last_change = 0, started
    next_note = started + 10
    outcome = "complete"
    reading = False
    first_sample: tuple[int, float | None] | None = None
    last_sample: tuple[int, float | None] | None = None
    try:
        while True:
            now = time.monotonic()
            if now - started > timeout_s:
                outcome = "timeout"
                break
            if not reading:
                end = end_offsets(consumer, topic, partitions) - base
                if end != last_end:
                    last_end, last_change = end, now
                if end > 0:
                    last_sample = (end, cpu_seconds())
                    first_sample = first_sample or last_sample
                if end >= expected:
                    consumer.assign(
                        [
                            TopicPartition(topic, p, (start or {}).get(p, OFFSET_BEGINNING))
                            for p in range(partitions)
                        ]
                    )
                    reading = True
                    continue
                if not alive():
                    outcome = "exited"
                    break
                if last_end > 0 and now - last_change > stall_s:
                    outcome = "stalled"
                    break
                if now >= next_note:
                    progress(f"  … {max(last_end, 0)} / {expected} output offsets")
                    next_note = now + 10
                time.sleep(0.25)
                continue
            msgs = consumer.consume(10_000, timeout=0.5)
            got = 0
            for msg in msgs:
                if msg.error() is None:
                    summary.add(msg)
                    got += 1
            if got:
                last_change = now
            if summary.records >= expected:
                break
            if not msgs and not alive():
                outcome = "exited"
                break
            if now - last_change > stall_s:
                outcome = "stalled"
                break
    finally:
        consumer.close()
    if outcome != "complete" and not reading:
        summary = read_all(bootstrap, topic, partitions, parse, start)
    if first_sample and last_sample and first_sample[1] is not None and last_sample[1] is not None:
        summary.window_offsets = last_sample[0] - first_sample[0]
        summary.window_cpu_s = last_sample[1] - first_sample[1]
    return summary, outcome


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def read_all(
    bootstrap: str,
    topic: str,
    partitions: int,
    parse: Parser | None = parse_count,
    start: dict[int, int] | None = None,
) -> OutputSummary:
    """Every committed record on ``topic`` now (reads to the end of each partition)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{time.time_ns()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "log_level": 3,
        }
    )
    summary = OutputSummary(parse)
    consumer.assign(
        [
            TopicPartition(topic, p, (start or {}).get(p, OFFSET_BEGINNING))
            for p in range(partitions)
        ]
    )
    at_end: set[int] = set()
    deadline = time.monotonic() + 60
    try:
        while len(at_end) < partitions and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=0.5):
                err = msg.error()
                if err is None:
                    summary.add(msg)
                elif err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
    finally:
        consumer.close()
    return summary


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident set size (VmHWM) of process ``pid`` in MiB, from /proc."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def ingress_producer(bootstrap: str, linger_ms: int = 20, compression: str = "none") -> Producer:
    """A producer like the SDK's ``EventProducer``: idempotent, acks=all, murmur2.

    Uncompressed by default: faust's aiokafka has no lz4 codec unless python-lz4 is installed.
    """
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
            "linger.ms": linger_ms,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
            "compression.type": compression,
            "log_level": 3,
        }
    )


def produce_records(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes, bytes | None, list[tuple[str, bytes]] | None]],
    compression: str = "none",
) -> tuple[int, float]:
    """Produce ``(key, value, headers)`` records (acks=all, murmur2); (count, seconds)."""
    started = time.monotonic()
    producer = ingress_producer(bootstrap, compression=compression)
    failed: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    produce = producer.produce
    n = 0
    for key, value, headers in records:
        while True:
            try:
                if headers:
                    produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                else:
                    produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if not n % 10_000:
            producer.poll(0)
    remaining = producer.flush(300)
    if remaining or failed:
        raise RuntimeError(f"records not produced: {remaining} pending, errors {failed[:3]}")
    return n, time.monotonic() - started
