"""Tools that SIGKILL the step runner around its N-th refund, at a point the test chooses.

``AGENTFLOW_TOOLS=tests.integration.steps_crash:tools`` binds the example tools, with
``issue_refund`` wrapped: with ``AGENTFLOW_TEST_KILL=before_effect:N`` the runner kills
itself when its N-th refund call starts (the ledger's intent is committed, the payments
service has not been called); with ``after_effect:N`` when the N-th call has returned (the
refund was made; its outcome and the step's result were not recorded). Run through the
runner's public ``AGENTFLOW_TOOLS`` setting; nothing here is imported by the product.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Mapping

from pydantic import BaseModel

from agents.tools import ToolBinding, ToolContext, ToolRegistry, ToolResult
from examples.tools import example_tools

KILL_ENV = "AGENTFLOW_TEST_KILL"
TOOLS = "tests.integration.steps_crash:tools"


def kill_env(point: str, at: int) -> dict[str, str]:
    """The environment that makes the runner kill itself at ``point`` of refund ``at``."""
    return {KILL_ENV: f"{point}:{at}", "AGENTFLOW_TOOLS": TOOLS}


def tools(urls: Mapping[str, str]) -> ToolRegistry:
    registry = example_tools(urls)
    point, _, at = os.environ.get(KILL_ENV, "").partition(":")
    inner = registry.get("issue_refund")
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
