"""A step worker for tests and the demo: runs the steps the workflows declare, one at a time.

It reads the steps topic, runs each command's declared step (:class:`~workflows.StepSpec`: a
Python handler or a model) with the same :class:`~agents.executor.StepExecutor` as the runner,
and sends the answer to ingress, signed with the ``agentflow-steps`` source's key, so it passes
the gate like any other event. The answer's id derives from the command id, so a redelivered
command yields the same event, which the orchestrator drops as a duplicate. ``failures``
injects scripted step failures. Its side-effect ledger lives in memory, and it answers at
least once; ``agentflow steps run`` (:class:`~agents.runner.StepRunner`) is the
exactly-once, concurrent runner with a durable ledger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from agentflow.testing.actors import STEP_WORKER
from agents import ModelEndpoint
from agents.executor import StepAnswer, StepExecutor
from agents.tools import ToolRegistry
from processors.engine.records import StepCommand, decode_step_command
from processors.events import CONTENT_TYPE_AVRO, HEADER_CONTENT_TYPE, KeyRing, encode
from processors.steps import failed_event
from streams.produce import produce
from workflows import DefinitionRegistry


class MemoryLedger:
    """A side-effect ledger in a dict (it does not survive the process)."""

    def __init__(self) -> None:
        self.entries: dict[bytes, dict[str, Any]] = {}

    def get(self, key: bytes) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, key: bytes, value: dict[str, Any]) -> None:
        self.entries[key] = value


async def _at_once() -> None:
    return None


@dataclass
class ScriptedStepWorker:
    """Consumes step commands, runs their declared steps, answers on ingress."""

    client_config: dict[str, Any]
    steps_topic: str
    ingress_topic: str
    keyring: KeyRing
    key_id: str
    registry: DefinitionRegistry
    #: Where ``openai:`` model steps are served (default: OpenAI's API, with no key).
    model_endpoint: ModelEndpoint = field(default_factory=ModelEndpoint)
    #: Every model step's model instead of the one it declares (``AGENTFLOW_MODEL``).
    model_override: str | None = None
    #: The tools' implementations; a declared tool left unbound fails its step.
    tools: ToolRegistry = field(default_factory=ToolRegistry)
    group_id: str = "agentflow-scripted-steps"
    # step name -> "transient" (fails on the first attempt only) or "permanent" (always).
    failures: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    answered: int = 0

    def __post_init__(self) -> None:
        self._executor = StepExecutor(
            self.registry, self.tools, STEP_WORKER, self.model_endpoint, self.clock,
            self.model_override,
        )  # fmt: skip
        self.ledger = MemoryLedger()
        # One loop for the worker's life: the executor's model clients are bound to it.
        self._loop = asyncio.new_event_loop()
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
        self._loop.close()

    def _answer(self, command: StepCommand) -> None:
        now_ms = int(self.clock() * 1000)
        failure = self.failures.get(command.step)
        event: StepAnswer
        if failure == "permanent" or (failure == "transient" and command.attempt == 1):
            event = failed_event(
                command, failure, f"scripted {failure} failure", "ScriptedFailure", now_ms,
                STEP_WORKER,
            )  # fmt: skip
        else:
            execution = self._executor.execute(command, self.ledger, _at_once)
            outcome = self._loop.run_until_complete(execution)
            event = outcome.answer
        value = encode(event)
        headers: list[tuple[str, str | bytes | None]] = [
            (HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()),
            *self.keyring.headers(self.key_id, event.key, value),
        ]
        produce(self._producer, self.ingress_topic, value, event.key, headers=headers)
