"""The pipeline bench's input: realistic, signed support_triage events, built fast.

Every event is a real Avro single-object encoded envelope (the schema of its type), keyed by
``workflow_id``, with the headers an :class:`agentflow.sdk.EventProducer` sends
(``content-type``, ``af-key-id``, ``af-signature``, HMAC-SHA256 under the dev signing keys of
``config/signing-keys.dev.json``), so the gate of ``agentflow worker`` accepts it and the
orchestrator applies it.

**The workload.** Each workflow follows the ``support_triage`` definition; the step results are
written in advance (step command ids are derived from the causing event id, see
:mod:`processors.engine.ids`, so the answer to a command is known before the command exists)
and interleaved into the input, standing in for a step worker outside the timed path. Every
event is therefore *applied* by the orchestrator: a transition, a state write, a changelog
record, an audit record and (mostly) a step command or output event::

    0  ticket.created                      -> classifying        [classify]
       then k times the info loop:
    a  step.completed:classify:needs_info  -> asking_customer    [request_info]
    b  step.completed:request_info         -> waiting_for_customer
    c  customer.replied                    -> classifying        [classify]
       then the refund path:
    r1 step.completed:classify:refund      -> proposing_refund   [propose_refund]
    r2 step.completed:propose_refund       -> awaiting_approval  (approval.requested out,
                                                                   48 h deadline armed)
    r3 approval.granted                    -> executing_refund   [execute_refund]
                                                                  (deadline disarmed)
    r4 step.completed:execute_refund       -> resolved           (workflow.completed out)

so M (events per workflow) = 5 + 3k (default 8). The scale stages use the info loop alone
(``a b c`` repeated), which keeps a workflow live for ever.

Events are sized so each *payload* is about ``payload_bytes`` (default 500) of Avro; the
whole envelope is ~100 bytes more. Order in the input: round by round (event j of every
workflow, then event j+1), so consecutive events of one workflow are far apart and its state
is read back from RocksDB rather than from the current checkpoint's memory.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import random
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro import schemaless_writer

from processors.engine import ids
from processors.events import (
    CONTENT_TYPE_AVRO,
    HEADER_CONTENT_TYPE,
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    default_registry,
)

ROOT = Path(__file__).resolve().parents[1]
POLICY_FILE = ROOT / "config" / "policy.json"
KEYS_FILE = ROOT / "config" / "signing-keys.dev.json"
TENANT = "acme"

# Source of each event family, and the key id that signs it (config/signing-keys.dev.json).
HELPDESK = "helpdesk"
STEPS = "agentflow-steps"
APPROVALS = "approvals-ui"

CUSTOMER = {"id": "cust-77", "kind": "user", "roles": ["customer"]}
STEP_WORKER = {"id": "bench-step-worker", "kind": "service", "roles": []}
APPROVER = {"id": "u-olga", "kind": "user", "roles": ["support", "approver", "refund_approver"]}

_TEXT = (
    "order refund charged twice card invoice shipping delivery account password login "
    "payment bank statement receipt subscription cancel upgrade plan discount coupon late "
    "damaged missing package tracking address customer support please thanks urgent today "
    "yesterday week month help issue problem error app website checkout cart price total"
)
_WORDS = tuple(_TEXT.split(" "))

LIFECYCLE_MIN = 5  # created + the refund path


def _keys() -> dict[str, tuple[str, bytes]]:
    raw = json.loads(KEYS_FILE.read_text())
    out: dict[str, tuple[str, bytes]] = {}
    for source, keys in raw.items():
        if source.startswith("_"):
            continue
        key_id, secret = sorted(keys.items())[0]
        out[source] = (key_id, secret.encode())
    return out


def valid_events_per_workflow(m: int) -> bool:
    return m >= LIFECYCLE_MIN and (m - LIFECYCLE_MIN) % 3 == 0


@dataclass
class Event:
    """One ingress record, ready to produce."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    event_id: str
    event_type: str
    workflow: int = -1

    def record(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        return self.key, self.value, self.headers


@dataclass
class Workload:
    """Builds the bench's events. ``tag`` makes workflow and event ids unique per run."""

    tag: str
    payload_bytes: int = 500
    seed: int = 7
    now_ms: int | None = None
    _entries: dict[str, Any] = field(default_factory=dict, repr=False)
    _keys: dict[str, tuple[str, bytes]] = field(default_factory=dict, repr=False)
    _text: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        reg = default_registry()
        for event_type in (
            "ticket.created",
            "step.completed",
            "customer.replied",
            "approval.granted",
        ):
            entry = reg.event(event_type, 1)
            assert entry is not None, event_type
            self._entries[event_type] = entry
        self._keys = _keys()
        rng = random.Random(self.seed)
        self._text = " ".join(rng.choice(_WORDS) for _ in range(4000))

    # -- ids ------------------------------------------------------------------------------
    def workflow_id(self, w: int) -> str:
        return f"wf-{self.tag}-{w:07d}"

    @staticmethod
    def created_id(wf: str) -> str:
        return f"{wf}-created"

    @staticmethod
    def loop_id(wf: str, cycle: int, step: str) -> str:
        return f"{wf}-c{cycle}{step}"

    # -- text of a given size -------------------------------------------------------------
    def _filler(self, n: int, salt: int) -> str:
        n = max(n, 0)
        start = (salt * 7919) % (len(self._text) - n - 1)
        return self._text[start : start + n]

    # -- events ---------------------------------------------------------------------------
    def _now(self) -> int:
        return self.now_ms if self.now_ms is not None else int(time.time() * 1000)

    def _envelope(
        self,
        event_type: str,
        event_id: str,
        wf: str,
        source: str,
        actor: dict[str, Any],
        cause: str | None,
        payload: dict[str, Any],
    ) -> Event:
        entry = self._entries[event_type]
        datum = {
            "event_id": event_id,
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": self._now(),
            "source": source,
            "tenant": TENANT,
            "actor": actor,
            "workflow_id": wf,
            "causation_id": cause,
            "payload": payload,
        }
        buf = io.BytesIO()
        buf.write(entry.header)
        schemaless_writer(buf, entry.wire_schema, datum, strict=True)
        value = buf.getvalue()
        key = wf.encode()
        key_id, secret = self._keys[source]
        signature = hmac.new(secret, key + b"\n" + value, hashlib.sha256).hexdigest()
        headers = [
            (HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()),
            (HEADER_KEY_ID, key_id.encode()),
            (HEADER_SIGNATURE, signature.encode()),
        ]
        return Event(key, value, headers, event_id, event_type)

    def ticket_created(self, w: int, *, uniform: bool = False) -> Event:
        """``uniform``: every field but the fixed-width ids is the same for every ``w``, so
        the workflow states these events start differ only in those ids (see
        :mod:`bench.preload`)."""
        wf = self.workflow_id(w)
        salt = 0 if uniform else w
        payload = {
            "ticket_id": f"T-{w:07d}",
            "subject": f"Order {salt % 100000}: charged twice, please refund",
            "body": self._filler(self.payload_bytes - 140, salt),
            "customer_id": f"cust-{salt % 9973}",
            "customer_email": f"customer{salt % 9973}@example.com",
            "tags": ["billing", "refund"],
        }
        return self._envelope(
            "ticket.created", self.created_id(wf), wf, HELPDESK, CUSTOMER, None, payload
        )

    def _step_completed(
        self, w: int, event_id: str, step: str, cause: str, result: dict[str, Any]
    ) -> Event:
        wf = self.workflow_id(w)
        pad = self.payload_bytes - 120 - len(json.dumps(result))
        result = {**result, "summary": self._filler(pad, zlib.crc32(event_id.encode()) & 0xFFFF)}
        payload = {
            "step": step,
            "command_id": ids.command_id(cause, step, 1),
            "attempt": 1,
            "result_json": json.dumps(result, sort_keys=True, separators=(",", ":")),
            "duration_ms": 1800,
        }
        return self._envelope("step.completed", event_id, wf, STEPS, STEP_WORKER, cause, payload)

    def loop_event(self, w: int, cycle: int, step: int) -> Event:
        """Event ``step`` (0, 1, 2 = a, b, c) of info-loop cycle ``cycle`` of workflow ``w``."""
        wf = self.workflow_id(w)
        classify_cause = self.created_id(wf) if cycle == 0 else self.loop_id(wf, cycle - 1, "c")
        if step == 0:
            return self._step_completed(
                w,
                self.loop_id(wf, cycle, "a"),
                "classify",
                classify_cause,
                {"outcome": "needs_info", "confidence": "0.71", "missing": "order number"},
            )
        if step == 1:
            return self._step_completed(
                w,
                self.loop_id(wf, cycle, "b"),
                "request_info",
                self.loop_id(wf, cycle, "a"),
                {"outcome": "sent", "channel": "email"},
            )
        event_id = self.loop_id(wf, cycle, "c")
        payload = {
            "ticket_id": f"T-{w}",
            "customer_id": f"cust-{w % 9973}",
            "message_id": f"msg-{w}-{cycle}",
            "body": self._filler(self.payload_bytes - 60, w + cycle),
            "attachment_ids": [f"doc-{w}-{cycle}"],
        }
        return self._envelope("customer.replied", event_id, wf, HELPDESK, CUSTOMER, None, payload)

    def refund_event(self, w: int, loops: int, step: int) -> Event:
        """Event ``step`` (0..3 = r1..r4) of the refund path after ``loops`` info loops."""
        wf = self.workflow_id(w)
        classify_cause = self.created_id(wf) if loops == 0 else self.loop_id(wf, loops - 1, "c")
        r = [f"{wf}-r{i}" for i in range(1, 5)]
        if step == 0:
            return self._step_completed(
                w, r[0], "classify", classify_cause, {"outcome": "refund", "confidence": "0.93"}
            )
        if step == 1:
            return self._step_completed(
                w,
                r[1],
                "propose_refund",
                r[0],
                {"outcome": "proposed", "amount": "42.00", "currency": "EUR"},
            )
        if step == 2:
            payload = {
                "approval_id": ids.approval_id(r[1], "approve_refund"),
                "step": "approve_refund",
                "reviewer_id": APPROVER["id"],
                "decision": "granted",
                "decided_at": self._now() - 5_000,
                "changes": [{"field": "amount_minor", "old_value": "4200", "new_value": "4000"}],
                "comment": self._filler(self.payload_bytes - 150, w),
            }
            return self._envelope("approval.granted", r[2], wf, APPROVALS, APPROVER, r[1], payload)
        return self._step_completed(
            w,
            r[3],
            "execute_refund",
            r[2],
            {"outcome": "refunded", "refund_id": f"rf-{w}"},
        )

    def lifecycle_event(self, w: int, j: int, m: int) -> Event:
        """Event ``j`` of the ``m``-event lifecycle of workflow ``w``."""
        loops = (m - LIFECYCLE_MIN) // 3
        if j == 0:
            return self.ticket_created(w)
        if j <= 3 * loops:
            cycle, step = divmod(j - 1, 3)
            return self.loop_event(w, cycle, step)
        return self.refund_event(w, loops, j - 1 - 3 * loops)

    # -- streams --------------------------------------------------------------------------
    def lifecycles(self, first: int, n: int, m: int, stagger: int = 0) -> Iterator[Event]:
        """The ``m``-event lifecycles of workflows ``first .. first+n-1``, round by round; or,
        with ``stagger`` > 0, event j of workflow w at position ``w + j * stagger`` (ties by
        j), so workflows start one after another and every stage is always in the mix."""
        if not valid_events_per_workflow(m):
            raise ValueError(f"events per workflow must be 5 + 3k, got {m}")
        order = [(j, w) for j in range(m) for w in range(first, first + n)]
        if stagger > 0:
            order.sort(key=lambda jw: (jw[1] - first + jw[0] * stagger, jw[0]))
        for j, w in order:
            event = self.lifecycle_event(w, j, m)
            event.workflow = w
            yield event

    def loops(
        self, live: int, events: int, cycles_done: dict[int, int], seed: int = 11
    ) -> Iterator[Event]:
        """``events`` info-loop events over the ``live`` workflows ``0 .. live-1`` (which
        must have started): whole cycles (a, b, c) for workflows in a shuffled order, round by
        round, so each touched workflow gets the same number of cycles (+-1).
        ``cycles_done`` (workflow -> cycles already sent) is updated."""
        cycles = events // 3
        order = list(range(live))
        random.Random(seed + live).shuffle(order)
        per_round = min(live, cycles)
        done = 0
        while done < cycles:
            batch = order[: min(per_round, cycles - done)]
            if len(order) > per_round:  # next round takes the next workflows
                order = order[per_round:] + order[:per_round]
            for step in range(3):
                for w in batch:
                    event = self.loop_event(w, cycles_done.get(w, 0), step)
                    event.workflow = w
                    yield event
            for w in batch:
                cycles_done[w] = cycles_done.get(w, 0) + 1
            done += len(batch)


def mean_sizes(events: list[Event]) -> dict[str, float]:
    """Mean value and headers bytes of ``events`` and a rough payload size."""
    if not events:
        return {}
    value = sum(len(e.value) for e in events) / len(events)
    headers = sum(sum(len(k) + len(v) for k, v in e.headers) for e in events) / len(events)
    return {"value_bytes": round(value, 1), "header_bytes": round(headers, 1)}


def worker_environ() -> dict[str, str]:
    """The gate's configuration the worker runs with (the repository's dev files)."""
    return {
        "AGENTFLOW_POLICY_FILE": str(POLICY_FILE),
        "AGENTFLOW_SIGNING_KEYS_FILE": str(KEYS_FILE),
    }
