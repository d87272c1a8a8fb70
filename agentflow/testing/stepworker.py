"""A step worker for tests and the demo: runs the steps the workflows declare as plain Python.

It reads the steps topic, looks each command's step up in the workflow's declarations
(:class:`~workflows.StepSpec`), runs its ``handler`` on the scoped view, validates the output
and sends the answer to ingress, signed with the ``agentflow-steps`` source's key, so it passes
the gate like any other event. It uses the same pure functions as any runner
(:mod:`processors.steps`): the answer's id derives from the command id, so a redelivered
command yields the same event, which the orchestrator drops as a duplicate. ``failures``
injects scripted step failures. It answers one command at a time, at least once; the agent
runtime's runner is the exactly-once, concurrent one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from pydantic import BaseModel

from agentflow.testing.actors import STEP_WORKER
from agents import ModelEndpoint, StepError, build_step_model, run_with_retries
from processors.engine.records import StepCommand, decode_step_command
from processors.events import (
    CONTENT_TYPE_AVRO,
    HEADER_CONTENT_TYPE,
    KeyRing,
    StepCompletedV1,
    StepFailedV1,
    encode,
)
from processors.steps import (
    InvalidOutputError,
    completed_event,
    failed_event,
    scoped_view,
    validated_output,
)
from streams.produce import produce
from workflows import DefinitionRegistry, StepSpec


@dataclass
class ScriptedStepWorker:
    """Consumes step commands, runs their declared Python steps, answers on ingress."""

    client_config: dict[str, Any]
    steps_topic: str
    ingress_topic: str
    keyring: KeyRing
    key_id: str
    registry: DefinitionRegistry
    #: Where ``openai:`` model steps are served; None: model steps fail (``no_model``).
    model_endpoint: ModelEndpoint | None = None
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
            self._answer(decode_step_command(value))
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

    def _answer(self, command: StepCommand) -> None:
        now_ms = int(self.clock() * 1000)
        failure = self.failures.get(command.step)
        event: StepCompletedV1 | StepFailedV1
        if failure == "permanent" or (failure == "transient" and command.attempt == 1):
            event = failed_event(
                command, failure, f"scripted {failure} failure", "ScriptedFailure", now_ms,
                STEP_WORKER,
            )  # fmt: skip
        else:
            event = self._run(command, now_ms)
        value = encode(event)
        headers: list[tuple[str, str | bytes | None]] = [
            (HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()),
            *self.keyring.headers(self.key_id, event.key, value),
        ]
        produce(self._producer, self.ingress_topic, value, event.key, headers=headers)

    def _run(self, command: StepCommand, now_ms: int) -> StepCompletedV1 | StepFailedV1:
        """Run the declared step, a Python handler or a model, on its scoped view; a step
        nobody declared fails for good."""
        definition = self.registry.get(command.definition_name, command.definition_version)
        spec = definition.step(command.step) if definition is not None else None
        if spec is None:
            detail = f"{command.definition_name}@{command.definition_version} declares no " \
                f"step {command.step!r}"  # fmt: skip
            return failed_event(command, "permanent", detail, "undeclared", now_ms, STEP_WORKER)
        view = scoped_view(spec, command.input)
        try:
            if spec.handler is not None:
                output = validated_output(spec, spec.handler(view))
            else:
                output = self._run_model(spec, view)
        except (InvalidOutputError, StepError) as exc:  # both carry the class the engine needs
            return failed_event(
                command, exc.error_class, str(exc), exc.error_type, now_ms, STEP_WORKER
            )
        return completed_event(command, output, now_ms, STEP_WORKER)

    def _run_model(self, spec: StepSpec, view: Mapping[str, str]) -> BaseModel:
        if self.model_endpoint is None or spec.model is None:
            raise StepError("permanent", "no_model", f"no model endpoint for {spec.name!r}")
        model = build_step_model(spec.model, spec.fallback_model, self.model_endpoint)
        return asyncio.run(run_with_retries(spec, view, model)).output
