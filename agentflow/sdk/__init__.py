"""The producer SDK: how upstream Python systems send signed events to agentflow's ingress.

* :class:`EventProducer` validates, encodes (Avro, or JSON), signs and produces events with an
  idempotent, murmur2-partitioned producer; :meth:`~EventProducer.flush` returns
  :class:`DeliveryReport` s.
* :func:`event_from_dict` builds the typed event from a plain dict (parsed JSON).
* :func:`build_record` is the pure part: the exact key, value and headers that would be sent.
* :mod:`agentflow.sdk.quarantine` reads the quarantine topic and releases records from it.
* :func:`proposal_hash` is the hash an ``approval.granted``/``approval.denied`` v2 carries of
  the proposal its reviewer was shown.

Every problem the caller can fix raises :class:`SdkError` (an :class:`InvalidEventError` for a
bad event, always before anything is produced).
"""

from agentflow.sdk.producer import (
    DeliveryFuture,
    DeliveryReport,
    EventProducer,
)
from agentflow.sdk.records import (
    ContentType,
    InvalidEventError,
    OutgoingRecord,
    SdkError,
    Signer,
    build_record,
    check_event,
    encode_value,
    event_from_dict,
)
from processors.events import proposal_hash

__all__ = [
    "ContentType",
    "DeliveryFuture",
    "DeliveryReport",
    "EventProducer",
    "InvalidEventError",
    "OutgoingRecord",
    "SdkError",
    "Signer",
    "build_record",
    "check_event",
    "encode_value",
    "event_from_dict",
    "proposal_hash",
]
