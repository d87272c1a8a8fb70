"""The offline model of the examples: pydantic-ai's ``FunctionModel`` with scripted judgement.

``function:examples.models:scripted_support_model`` is what the support_triage model steps
declare, so ``make demo`` and the tests run without a hosted model: the prompts (the rendered
instructions and the scoped view), the tool calls through the toolbox, the output validation
and re-asks, and the ledger are the real path; only the judgement is scripted, from the step's
output type and the view it was shown. ``AGENTFLOW_MODEL=openai:gpt-4o-mini`` (with
``AGENTFLOW_MODEL_BASE_URL`` / ``AGENTFLOW_MODEL_API_KEY``) swaps in a real model.

Markers in a ticket's subject script misbehaviour, for the demo: ``[sloppy]`` makes the
classifier answer with an invalid outcome once (it is asked again and then answers well);
``[overreach]`` makes it call ``issue_refund``, a tool outside its allowlist, first (it is
told no such tool exists, and goes on); ``[busy]`` makes its first request fail with a 429
(the runner waits and asks again); ``[vague]`` makes it answer ``needs_info`` until the
customer has replied (the classify step then sees the reply as ``event.body``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo

from processors.steps import approved_arguments

_RATE_LIMITED: set[str] = set()  # subjects already answered with a 429 (once each)


def _view(messages: list[ModelMessage]) -> dict[str, str]:
    """The scoped view the step was shown: the first user prompt, JSON."""
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    view: dict[str, str] = json.loads(part.content)
                    return view
    return {}


def _parts(messages: list[ModelMessage], kind: type[Any]) -> list[Any]:
    return [
        p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, kind)
    ]


def _answer(info: AgentInfo, output: dict[str, Any]) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, output)])


def scripted_support_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """One turn of the scripted model, chosen by the step's output type."""
    if not info.output_tools:  # pragma: no cover - every example step has a typed output
        return ModelResponse(parts=[TextPart("no output type")])
    view = _view(messages)
    subject = view.get("context.subject", "")
    output = info.output_tools[0].parameters_json_schema.get("title", "")
    if output == "Classification":
        if "[busy]" in subject and subject not in _RATE_LIMITED:
            _RATE_LIMITED.add(subject)
            raise ModelHTTPError(429, "scripted", {"error": "rate limited, try again"})
        text = " ".join(view.values()).lower()
        # Whatever went wrong before (an unknown tool, an invalid answer) comes back to the
        # model as a tool return or a retry prompt: it is then told, and behaves.
        told = _parts(messages, ToolReturnPart) or _parts(messages, RetryPromptPart)
        if "[overreach]" in subject and not told:
            return ModelResponse(parts=[ToolCallPart("issue_refund", {"amount": "500.00"})])
        if "[sloppy]" in subject and not told:
            return _answer(info, {"outcome": "probably fine", "confidence": "0.4"})
        replied = view.get("event.body", "") != view.get("context.body", "")
        if "[vague]" in subject and not replied:
            return _answer(info, {"outcome": "needs_info", "confidence": "0.7"})
        refund = "refund" in text or "charged twice" in text
        return _answer(info, {"outcome": "refund" if refund else "low_risk", "confidence": "0.9"})
    ticket_id = view.get("context.ticket_id", "")
    if output == "RefundProposal":
        proposal = {"outcome": "proposed", "amount": "42.00", "currency": "EUR"}
        return _answer(info, {**proposal, "ticket_id": ticket_id})
    if output == "DraftedReply":
        text = f'Hello, thank you for writing about "{subject}". We are on it.'
        return _answer(info, {"outcome": "drafted", "ticket_id": ticket_id, "text": text})
    if output == "RefundDone":
        returned = [p for p in _parts(messages, ToolReturnPart) if p.tool_name == "issue_refund"]
        if not returned:
            approved = approved_arguments(view, "propose_refund")
            args = {"amount": approved["amount"], "currency": approved["currency"],
                    "reference": view.get("context.ticket_id", "")}  # fmt: skip
            return ModelResponse(parts=[ToolCallPart("issue_refund", args)])
        receipt = returned[-1].content
        receipt = json.loads(receipt) if isinstance(receipt, str) else receipt
        done = {"outcome": "refunded", "refund_id": receipt["refund_id"],
                "amount": receipt["amount"], "currency": receipt["currency"]}  # fmt: skip
        return _answer(info, done)
    return _answer(info, {"outcome": "done", "summary": f"answered: {subject[:60]}"})
