"""Contender "faust" of the steps suite: a faust-streaming agent with ``concurrency=100``
running the same step (the same :class:`~agents.executor.StepExecutor`, model and view) on
each command, and sending the signed answer to the output topic.

What a user following the design card would write: faust's agent concurrency for many steps
in flight, at-least-once, with no ledger of its own (an in-memory one stands in). Run as
``python -m bench.faust_steps_app worker -l warn``; configured by ``BENCH_*`` variables and
``BENCH_MODEL_BASE_URL``.
"""

from __future__ import annotations

import os

import faust

from agentflow.testing.actors import STEP_WORKER
from agentflow.testing.stepworker import MemoryLedger
from agents import ModelEndpoint
from agents.executor import StepExecutor
from agents.tools import ToolRegistry
from bench.apps import AppEnv
from bench.faust_common import make_app
from bench.steps_flows import registry
from processors.engine.records import decode_step_command
from processors.events import encode

env = AppEnv.from_environ()
app, source, sink = make_app(env)
executor = StepExecutor(registry(), ToolRegistry(), STEP_WORKER,
                        ModelEndpoint(os.environ["BENCH_MODEL_BASE_URL"], "bench", 30))  # fmt: skip
ledger = MemoryLedger()
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "100"))


async def _durable() -> None:
    return None


@app.agent(source, concurrency=CONCURRENCY)
async def answer(stream: faust.StreamT[bytes]) -> None:
    async for key, value in stream.items():
        outcome = await executor.execute(decode_step_command(value), ledger, _durable)
        await sink.send(key=key, value=encode(outcome.answer))


if __name__ == "__main__":
    app.main()
