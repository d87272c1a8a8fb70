"""A scripted step worker: answers step commands with ``step.completed`` / ``step.failed``.

It stands in for the agent step workers (model and tool calls) in tests and the demo. It reads
the steps topic, decides each step's result with a small deterministic script, and sends the
result event to ingress, signed with the ``agentflow-steps`` source's key, so it passes the
gate like any other event. Result event ids derive from the command id, so a redelivered
command yields the same event, which the orchestrator then drops as a duplicate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from agentflow.testing.actors import STEP_WORKER
from processors.events import (
    CONTENT_TYPE_AVRO,
    HEADER_CONTENT_TYPE,
    KeyRing,
    StepCompletedPayloadV1,
    StepCompletedV1,
    StepFailedPayloadV1,
    StepFailedV1,
    decode_record,
    encode,
)
from streams.produce import produce

STEP_SOURCE = "agentflow-steps"


def scripted_result(step: str, inputs: Mapping[str, str], command_id: str) -> dict[str, Any]:
    """What the scripted agent 'decides' for ``step``: deterministic, from the inputs alone."""
    text = " ".join(inputs.values()).lower()
    if step == "classify":
        outcome = "refund" if "refund" in text or "charged twice" in text else "low_risk"
        return {"outcome": outcome, "confidence": "0.9"}
    if step == "propose_refund":
        return {"outcome": "proposed", "amount": "42.00", "currency": "EUR"}
    if step == "execute_refund":
        return {"outcome": "refunded", "refund_id": f"rf-{command_id[:12]}"}
    if step == "revise":
        return {"outcome": "resubmit", "amount": "30.00", "currency": "EUR"}
    return {"outcome": "done", "summary": f"{step} finished by the scripted worker"}


@dataclass
class ScriptedStepWorker:
    """Consumes step commands and produces their results to ingress."""

    client_config: dict[str, Any]
    steps_topic: str
    ingress_topic: str
    keyring: KeyRing
    key_id: str
    group_id: str = "agentflow-scripted-steps"
    # step name -> "transient" (fails on the first attempt only) or "permanent" (always).
    failures: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    answered: int = 0

    def __post_init__(self) -> None:
        self._consumer = Consumer(
            {
                **self.client_config,
                "group.id": self.group_id,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        self._producer = Producer(
            {
                **self.client_config,
                "enable.idempotence": True,
                "acks": "all",
                "partitioner": "murmur2_random",
            }
        )
        self._consumer.subscribe([self.steps_topic])

    def run_once(self, timeout: float = 0.5) -> int:
        """Answer the commands available now; how many."""
        msgs = self._consumer.consume(500, timeout)
        count = 0
        for msg in msgs:
            value = msg.value()
            if msg.error() is not None or value is None:
                continue
            _, command = decode_record(value)
            self._answer(command)
            count += 1
        if count:
            self._producer.flush(30)
            try:
                self._consumer.commit(asynchronous=False)
            except KafkaException as exc:
                # Nothing to commit: a rebalance already committed these offsets.
                if exc.args[0].code() != KafkaError._NO_OFFSET:
                    raise
        self.answered += count
        return count

    def run(self, should_stop: Callable[[], bool]) -> None:
        while not should_stop():
            self.run_once()

    def close(self) -> None:
        self._producer.flush(30)
        self._consumer.close()

    def _answer(self, command: Mapping[str, Any]) -> None:
        step, attempt, command_id = command["step"], command["attempt"], command["command_id"]
        common = {
            "event_id": f"step-{command_id}",
            "occurred_at": int(self.clock() * 1000),
            "source": STEP_SOURCE,
            "tenant": command["tenant"],
            "actor": STEP_WORKER,
            "workflow_id": command["workflow_id"],
            "causation_id": command["causation_id"],
        }
        failure = self.failures.get(step)
        event: StepCompletedV1 | StepFailedV1
        if failure == "permanent" or (failure == "transient" and attempt == 1):
            event = StepFailedV1(
                **common,
                payload=StepFailedPayloadV1(
                    step=step,
                    command_id=command_id,
                    attempt=attempt,
                    error_class="permanent" if failure == "permanent" else "transient",
                    error_message=f"scripted {failure} failure",
                    error_type="ScriptedFailure",
                ),
            )
        else:
            result = scripted_result(step, command.get("input", {}), command_id)
            event = StepCompletedV1(
                **common,
                payload=StepCompletedPayloadV1(
                    step=step,
                    command_id=command_id,
                    attempt=attempt,
                    result_json=json.dumps(result, sort_keys=True),
                    duration_ms=None,
                ),
            )
        value = encode(event)
        headers: list[tuple[str, str | bytes | None]] = [
            (HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()),
            *self.keyring.headers(self.key_id, event.key, value),
        ]
        produce(self._producer, self.ingress_topic, value, event.key, headers=headers)
