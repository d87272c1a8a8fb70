"""Tools that SIGKILL the step runner around its N-th refund, at a point the test chooses.

``AGENTFLOW_TOOLS=tests.integration.steps_crash:tools`` binds the example tools, with
``issue_refund`` wrapped: with ``AGENTFLOW_TEST_KILL=before_effect:N`` the runner kills
itself when its N-th refund call starts (the ledger's intent is committed, the payments
service has not been called); with ``after_effect:N`` when the N-th call has returned (the
refund was made; its outcome and the step's result were not recorded); with ``in_txn:N``
inside an open transaction: when the checkpoint encodes the ledger entry that records the N-th
refund's outcome (step 2 of ``streams.checkpoint``: the transaction's results were produced,
its ledger changelog and offsets not yet sent), after a pause in which the producer's thread
delivers the results to the broker, as ``tests.integration.crashpoint`` does for the worker.
Run through the runner's public ``AGENTFLOW_TOOLS`` setting, which imports this module inside
the runner; for ``in_txn`` it wraps the codec of the runner's ledger table there. Nothing here
is imported by the product.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

import agents.runner
from agents.tools import ToolBinding, ToolContext, ToolRegistry, ToolResult
from examples.tools import example_tools
from processors.contract import private_copy

KILL_ENV = "AGENTFLOW_TEST_KILL"
TOOLS = "tests.integration.steps_crash:tools"


def kill_env(point: str, at: int) -> dict[str, str]:
    """The environment that makes the runner kill itself at ``point`` of refund ``at``."""
    return {KILL_ENV: f"{point}:{at}", "AGENTFLOW_TOOLS": TOOLS}


#: Long enough for the producer's thread to deliver what the transaction holds.
DELIVERY_PAUSE_S = 1.0


class _KillAtOutcome:
    """The ledger's codec, killing the process when it encodes the ``at``-th refund outcome."""

    def __init__(self, inner: Any, at: int) -> None:
        self._inner, self._at, self._outcomes = inner, at, 0

    def encode(self, value: Any) -> bytes:
        if isinstance(value, dict) and value.get("tool") == "issue_refund" and "outcome" in value:
            self._outcomes += 1
            if self._outcomes == self._at:
                time.sleep(DELIVERY_PAUSE_S)
                os.kill(os.getpid(), signal.SIGKILL)
        data: bytes = self._inner.encode(value)
        return data

    def decode(self, data: bytes) -> Any:
        return self._inner.decode(data)

    def copy(self, value: Any) -> Any:
        return private_copy(self._inner, value)


def tools(urls: Mapping[str, str]) -> ToolRegistry:
    registry = example_tools(urls)
    point, _, at = os.environ.get(KILL_ENV, "").partition(":")
    inner = registry.get("issue_refund")
    if point == "in_txn":
        # The name the runner opens its ledger partitions with (not its public API).
        ledger = getattr(agents.runner, "LEDGER")  # noqa: B009
        crashing = dataclasses.replace(ledger, codec=_KillAtOutcome(ledger.codec, int(at)))
        setattr(agents.runner, "LEDGER", crashing)  # noqa: B010
        return registry
    if not point or inner is None:
        return registry
    calls = itertools.count(1)

    async def run(args: BaseModel, ctx: ToolContext) -> ToolResult:
        n = next(calls)
        if point == "before_effect" and n == int(at):
            os.kill(os.getpid(), signal.SIGKILL)
        result = await inner.run(args, ctx)
        if point == "after_effect" and n == int(at):
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    others = [b for b in registry if b.name != "issue_refund"]
    return ToolRegistry([*others, ToolBinding("issue_refund", run, inner.reconcile)])
