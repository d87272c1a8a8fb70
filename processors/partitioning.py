"""Java-compatible key partitioning (Kafka's ``murmur2``), so every client agrees on partitions.

librdkafka's default partitioner (used by confluent-kafka and kcat unless told otherwise) hashes
keys with CRC32, which puts a key on a different partition than a Java producer would. agentflow
partitions by ``workflow_id`` and keeps per-workflow state per partition, so every producer must
use this function (librdkafka: ``partitioner=murmur2_random``).
"""

from __future__ import annotations

import functools

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 of ``data``, as an unsigned int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - (length % 4)
    for i in range(0, whole, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


#: Keys whose partition is remembered: a workflow's events and emits hash the same key again
#: and again (2.4 µs in pure Python, 0.1 µs a hit); 65,536 entries hold about 10 MB.
PARTITION_CACHE_ENTRIES = 65_536


@functools.lru_cache(maxsize=PARTITION_CACHE_ENTRIES)
def partition_for(key: bytes, num_partitions: int) -> int:
    """The partition a Java producer (and librdkafka's ``murmur2_random``) picks for ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions
