"""The approval inbox: what a reviewer may see and decide, for the web page and the CLI alike.

:class:`PendingApprovals` is the read model: it follows the engine's ``approvals`` table
through its changelog (assigned partitions, no consumer group) and keeps the pending approvals
in memory, so a page load reads a dictionary, not the log. :class:`Inbox` answers for one
signed-in reviewer: the approvals of the tenants where they hold the approval's role (never
another tenant's), one approval in full, and a decision, which it turns into a signed
``approval.granted``/``approval.denied`` v2 naming the signed-in reviewer, the field changes
and the hash of the exact proposal shown. The engine checks all of it again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from edge.reviewers import Reviewer
from processors.engine.ids import derive_id
from processors.events import (
    CONTENT_TYPE_AVRO,
    HEADER_CONTENT_TYPE,
    ApprovalDecisionV2,
    ApprovalDeniedV2,
    ApprovalGrantedV2,
    ApprovalOutcome,
    FieldChange,
    KeyRing,
    changes_text,
    encode,
)

#: The source inbox answers are signed as (the shipped policy allows it ``approval.*``).
APPROVALS_SOURCE = "approvals-ui"


class InboxError(Exception):
    """A request the inbox refuses: ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class PendingApprovals:
    """The pending approvals, from the ``approvals`` changelog; see the module docstring."""

    def __init__(self, client_config: Mapping[str, Any], topic: str, follow: bool = True):
        self.topic = topic
        self.follow = follow
        self._entries: dict[bytes, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._error: str | None = None
        self._consumer = Consumer({
            **client_config, "group.id": "agentflow-inbox", "enable.auto.commit": False,
            "enable.partition.eof": True, "isolation.level": "read_committed", "log_level": 2,
        })  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="inbox-reader", daemon=True)

    def start(self, timeout_s: float = 30.0) -> PendingApprovals:
        """Read the changelog to its end (then keep following it if ``follow``)."""
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise InboxError(503, f"the inbox could not read {self.topic} in {timeout_s:g}s")
        if self._error is not None:
            raise InboxError(503, self._error)
        return self

    def _run(self) -> None:
        try:
            meta = self._consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
            if meta is None or meta.error is not None:
                self._error = f"topic {self.topic} does not exist: run `agentflow topics ensure`"
                self._ready.set()
                return
            parts = sorted(meta.partitions)
            self._consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in parts])
            at_end: set[int] = set()
            while not self._stopping.is_set():
                for msg in self._consumer.consume(500, 0.2):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            at_end.add(msg.partition() or 0)
                        continue
                    self._apply(msg.key(), msg.value())
                if not self._ready.is_set() and len(at_end) >= len(parts):
                    self._ready.set()
                    if not self.follow:
                        return
        finally:
            self._ready.set()
            self._consumer.close()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        with self._lock:
            if value is None:
                self._entries.pop(key, None)
            else:
                self._entries[key] = json.loads(value)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries.values())

    def close(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


@dataclass(frozen=True)
class Decided:
    """A decision, signed and ready for ingress."""

    event: ApprovalGrantedV2 | ApprovalDeniedV2
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


class Inbox:
    """The inbox of whoever is signed in; see the module docstring."""

    def __init__(self, pending: PendingApprovals, keyring: KeyRing) -> None:
        key_ids = keyring.key_ids(APPROVALS_SOURCE)
        if not key_ids:
            raise InboxError(500, f"no signing key for the {APPROVALS_SOURCE!r} source: add one "
                             "to the signing keys, which sign the inbox's answers")  # fmt: skip
        self.pending = pending
        self.keyring = keyring
        self.key_id = key_ids[0]

    def visible(self, reviewer: Reviewer) -> list[dict[str, Any]]:
        """The pending approvals ``reviewer`` may decide, oldest first."""
        mine = [e for e in self.pending.entries()
                if reviewer.may_review(e["tenant"], e["required_role"])]  # fmt: skip
        return sorted(mine, key=lambda e: (e["requested_at"], e["approval_id"]))

    def show(self, reviewer: Reviewer, approval_id: str) -> dict[str, Any]:
        """One approval, if ``reviewer`` may see it (else 404, as if it did not exist)."""
        found = next((e for e in self.visible(reviewer) if e["approval_id"] == approval_id), None)
        if found is None:
            raise InboxError(404, f"no pending approval {approval_id!r} for you")
        return found

    def decide(
        self,
        reviewer: Reviewer,
        approval_id: str,
        granted: bool,
        edits: Mapping[str, str] | None = None,
        comment: str | None = None,
        now_ms: int | None = None,
    ) -> Decided:
        """The signed answer of ``reviewer`` to ``approval_id``: granted with ``edits``
        (field -> new value; unchanged fields are ignored), or denied."""
        entry = self.show(reviewer, approval_id)
        if reviewer.id in entry.get("requested_by", []) or reviewer.id == entry.get("started_by"):
            raise InboxError(403, "you asked for this approval: someone else must decide it")
        if reviewer.id in entry.get("granted_by", []):
            raise InboxError(409, "you have granted it already; it needs other approvers")
        proposal: dict[str, str] = entry.get("proposal", {})
        unknown = sorted(set(edits or {}) - set(proposal))
        if unknown:
            raise InboxError(400, f"{unknown} are not fields of the proposal {sorted(proposal)}")
        changes = [
            FieldChange(field=k, old_value=proposal[k], new_value=v)
            for k, v in sorted((edits or {}).items())
            if granted and v != proposal[k]
        ]
        at = int(time.time() * 1000) if now_ms is None else now_ms
        decision: ApprovalOutcome = "granted" if granted else "denied"
        payload = ApprovalDecisionV2(
            approval_id=approval_id, step=entry["step"], reviewer_id=reviewer.id,
            decision=decision, decided_at=at, changes=changes, comment=comment or None,
            proposal_hash=entry["proposal_hash"],
        )  # fmt: skip
        # The same answer twice (a double click) has the same id: the engine drops the second.
        event_id = derive_id(approval_id, f"{reviewer.id}:{decision}:{changes_text(changes)}")
        common = {
            "event_id": event_id, "occurred_at": at, "source": APPROVALS_SOURCE,
            "tenant": entry["tenant"], "actor": reviewer.actor(entry["tenant"]),
            "workflow_id": entry["workflow_id"], "causation_id": entry.get("causation_id"),
        }  # fmt: skip
        event: ApprovalGrantedV2 | ApprovalDeniedV2 = (
            ApprovalGrantedV2(**common, payload=payload)
            if granted
            else ApprovalDeniedV2(**common, payload=payload)
        )
        value = encode(event)
        headers = ((HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()),
                   *self.keyring.headers(self.key_id, event.key, value))  # fmt: skip
        return Decided(event, event.key, value, headers)
