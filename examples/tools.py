"""The example workflows' tool implementations, bound to their declarations.

``AGENTFLOW_TOOLS=examples.tools:example_tools`` (the default) binds them; the base URLs of
their back-ends come from ``AGENTFLOW_TOOL_URLS``
(``{"payments": "http://127.0.0.1:8081", "status": "http://127.0.0.1:8082"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from agents.tools import ToolBinding, ToolContext, ToolFailure, ToolRegistry
from examples.workflows.scripted import RefundRequest, ServiceQuery


async def _request(method: str, url: str, timeout_s: float, **kw: Any) -> httpx.Response:
    """One HTTP call; a connection failure or timeout is a transient tool failure."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        try:
            return await client.request(method, url, **kw)
        except httpx.TransportError as exc:
            raise ToolFailure("transient", "tool_unavailable", f"{url}: {exc}") from exc


def _answer(response: httpx.Response) -> dict[str, object]:
    """A back-end's JSON answer; 5xx and 429 are transient failures, other 4xx permanent. The
    toolbox validates it against the tool's output type."""
    status = response.status_code
    if status >= 500 or status == 429:
        raise ToolFailure("transient", "tool_unavailable", f"{response.url} answered {status}")
    if status >= 400:
        raise ToolFailure("permanent", "tool_refused", f"{response.url} answered {status}: "
                          f"{response.text[:200]}")  # fmt: skip
    answer: dict[str, object] = response.json()
    return answer


class PaymentsClient:
    """``issue_refund`` on the payments service (``examples.services.payments``)."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    async def issue_refund(self, args: BaseModel, ctx: ToolContext) -> dict[str, object]:
        assert isinstance(args, RefundRequest) and ctx.idempotency_key is not None
        headers = {"Idempotency-Key": ctx.idempotency_key}
        url = f"{self.base_url}/refunds"
        return _answer(await _request("POST", url, self.timeout_s, json=args.model_dump(),
                                      headers=headers))  # fmt: skip

    async def reconcile(self, ctx: ToolContext) -> dict[str, object] | None:
        """The refund already made under the call's key, or None if there is none."""
        assert ctx.idempotency_key is not None
        url = f"{self.base_url}/refunds/{quote(ctx.idempotency_key, safe='')}"
        response = await _request("GET", url, self.timeout_s)
        return None if response.status_code == 404 else _answer(response)


class StatusClient:
    """``service_status`` on the status API (``examples.services.status``): a read."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    async def service_status(self, args: BaseModel, ctx: ToolContext) -> dict[str, object]:
        assert isinstance(args, ServiceQuery)
        url = f"{self.base_url}/services/{quote(args.service, safe='')}"
        return _answer(await _request("GET", url, self.timeout_s))


def example_tools(urls: Mapping[str, str]) -> ToolRegistry:
    """The example tools; ``urls`` names each back-end's base URL (``payments``,
    ``status``)."""
    payments = PaymentsClient(urls.get("payments", "http://127.0.0.1:8081"))
    status = StatusClient(urls.get("status", "http://127.0.0.1:8082"))
    return ToolRegistry(
        [
            ToolBinding("issue_refund", payments.issue_refund, payments.reconcile),
            ToolBinding("service_status", status.service_status),
        ]
    )
