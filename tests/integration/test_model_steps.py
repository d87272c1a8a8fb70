"""Model steps against a real local HTTP server speaking OpenAI's chat-completions protocol:
typed output, re-asks, guardrails, scoping, usage and the classification of failures."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace

import pytest
from pydantic import BaseModel, field_validator

from agentflow.testing.fake_openai import FakeOpenAI, Reply
from agents import (
    ModelEndpoint,
    StepError,
    StepRun,
    build_model,
    build_step_model,
    run_model_step,
    run_with_retries,
)
from processors.steps import scoped_view
from workflows import StepSpec


class Proposal(BaseModel):
    outcome: str
    amount: float

    @field_validator("amount")
    @classmethod
    def _at_most_500(cls, amount: float) -> float:
        if amount > 500:
            raise ValueError("a refund is at most 500")
        return amount


SPEC = StepSpec(
    "propose_refund",
    ("context.subject", "context.body"),
    Proposal,
    instructions="Propose a refund for: {{context.subject}}",
    model="openai:fake-gpt",
)
COMMAND_INPUT: Mapping[str, str] = {
    "context.subject": "Charged twice",
    "context.body": "Order 5521 was charged twice.",
    "context.customer_email": "ana@example.com",  # outside the view
    "context.card_last4": "4242",  # outside the view
}


def run(server: FakeOpenAI) -> StepRun:
    model = build_model(SPEC.model or "", ModelEndpoint(server.base_url, "test-key", 5))
    return asyncio.run(run_model_step(SPEC, scoped_view(SPEC, COMMAND_INPUT), model))


def test_a_model_step_returns_its_validated_output_and_usage() -> None:
    with FakeOpenAI([Reply.output({"outcome": "proposed", "amount": 42.0}, input_tokens=80)]) as s:
        result = run(s)
    assert result.output == Proposal(outcome="proposed", amount=42.0)
    usage = result.usage
    assert (usage.model, usage.input_tokens, usage.output_tokens, usage.requests) == (
        "fake-gpt", 80, 10, 1,
    )  # fmt: skip


def test_the_model_sees_its_instructions_and_view_and_nothing_else() -> None:
    with FakeOpenAI([Reply.output({"outcome": "proposed", "amount": 1.0})]) as server:
        run(server)
    [prompt] = server.prompts()
    assert "Propose a refund for: Charged twice" in prompt
    assert "Order 5521 was charged twice." in prompt
    assert "ana@example.com" not in prompt and "4242" not in prompt
    assert server.requests[0]["model"] == "fake-gpt"


def test_an_output_outside_its_guardrails_is_asked_again_then_accepted() -> None:
    replies = [
        Reply.output({"outcome": "proposed", "amount": 900.0}),
        Reply.output({"outcome": "proposed", "amount": 40.0}),
    ]
    with FakeOpenAI(replies) as server:
        result = run(server)
    assert result.output == Proposal(outcome="proposed", amount=40.0)
    assert len(server.requests) == 2
    assert "at most 500" in server.prompts()[1]  # the model was told what was wrong


def test_an_output_that_never_validates_fails_for_good_as_invalid_output() -> None:
    bad = Reply.output({"outcome": "proposed", "amount": 900.0})
    with FakeOpenAI([bad, bad, bad]) as server, pytest.raises(StepError) as failed:
        run(server)
    assert (failed.value.error_class, failed.value.error_type) == ("permanent", "invalid_output")
    spent = failed.value.usage  # the re-asks were paid for: the engine counts them
    assert spent is not None and len(server.requests) == 2
    assert (spent.requests, spent.input_tokens, spent.output_tokens) == (2, 100, 20)


@pytest.mark.parametrize(
    ("reply", "error_class", "error_type"),
    [
        (Reply.error(429, retry_after_s=1), "transient", "rate_limited"),
        (Reply.error(500), "transient", "server_error"),
        (Reply.error(503), "transient", "server_error"),
        (Reply.error(400), "permanent", "client_error"),
        (Reply.error(401), "permanent", "client_error"),
    ],
)
def test_model_failures_are_classified_for_the_engine(
    reply: Reply, error_class: str, error_type: str
) -> None:
    with FakeOpenAI([reply]) as server, pytest.raises(StepError) as failed:
        run(server)
    assert (failed.value.error_class, failed.value.error_type) == (error_class, error_type)
    assert len(server.requests) == 1  # the SDK's own retries are off: the runner retries


def test_an_unreachable_endpoint_is_a_transient_connection_error() -> None:
    model = build_model("openai:x", ModelEndpoint("http://127.0.0.1:1/v1", "k", 2))
    with pytest.raises(StepError) as failed:
        asyncio.run(run_model_step(SPEC, {}, model))
    assert (failed.value.error_class, failed.value.error_type) == ("transient", "connection")


def test_a_model_name_without_a_known_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="provider:model"):
        build_model("gpt-4o", ModelEndpoint())
    with pytest.raises(ValueError, match="unknown provider 'nope'"):
        build_model("nope:x", ModelEndpoint())


class Sleeps:
    """Records the runner's waits instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def retried(server: FakeOpenAI, sleeps: Sleeps, spec: StepSpec = SPEC) -> StepRun:
    model = build_step_model(spec.model or "", spec.fallback_model, ModelEndpoint(server.base_url))
    view = scoped_view(spec, COMMAND_INPUT)
    return asyncio.run(run_with_retries(spec, view, model, sleep=sleeps, jitter=lambda: 0.0))


GOOD = Reply.output({"outcome": "proposed", "amount": 10.0})


def test_a_rate_limit_is_retried_after_the_servers_retry_after() -> None:
    sleeps = Sleeps()
    with FakeOpenAI([Reply.error(429, retry_after_s=0.2), GOOD]) as server:
        result = retried(server, sleeps)
    assert result.output == Proposal(outcome="proposed", amount=10.0)
    assert sleeps.delays == [0.2] and len(server.requests) == 2


def test_server_errors_back_off_exponentially_then_go_to_the_engine() -> None:
    sleeps = Sleeps()
    with FakeOpenAI([Reply.error(500), Reply.error(502), GOOD]) as server:
        retried(server, sleeps)
    assert sleeps.delays == [0.25, 0.5]  # 0.5 s x 2^(n-1), halved by the (zero) jitter
    sleeps = Sleeps()
    with FakeOpenAI([Reply.error(503)] * 3) as server, pytest.raises(StepError) as failed:
        retried(server, sleeps)
    assert failed.value.error_class == "transient" and len(server.requests) == 3


def test_a_permanent_error_is_not_retried() -> None:
    sleeps = Sleeps()
    with FakeOpenAI([Reply.error(400), GOOD]) as server, pytest.raises(StepError) as failed:
        retried(server, sleeps)
    assert failed.value.error_class == "permanent"
    assert sleeps.delays == [] and len(server.requests) == 1


FALLBACK = StepSpec(
    "propose_refund",
    ("context.subject",),
    Proposal,
    model="openai:primary",
    fallback_model="openai:backup",
)


def test_a_rate_limited_model_falls_back_to_the_fallback_model() -> None:
    sleeps = Sleeps()
    with FakeOpenAI([Reply.error(429), GOOD]) as server:
        result = retried(server, sleeps, FALLBACK)
    assert [r["model"] for r in server.requests] == ["primary", "backup"]
    assert result.output == Proposal(outcome="proposed", amount=10.0)
    assert sleeps.delays == []  # the fallback answered: nothing to retry


def test_a_client_error_does_not_fall_back() -> None:
    with FakeOpenAI([Reply.error(400), GOOD]) as server, pytest.raises(StepError) as failed:
        retried(server, Sleeps(), FALLBACK)
    assert failed.value.error_type == "client_error"
    assert [r["model"] for r in server.requests] == ["primary"]


def _anthropic(server: FakeOpenAI) -> ModelEndpoint:
    return ModelEndpoint(anthropic_base_url=server.anthropic_url, anthropic_api_key="test-key")


def test_an_anthropic_model_step_speaks_the_messages_api() -> None:
    spec = replace(SPEC, model="anthropic:fake-claude")
    replies = [Reply.output({"outcome": "proposed", "amount": 900.0}),  # outside its guardrails
               Reply.output({"outcome": "proposed", "amount": 42.0}, input_tokens=70)]  # fmt: skip
    with FakeOpenAI(replies) as server:
        model = build_model(spec.model or "", _anthropic(server))
        result = asyncio.run(run_model_step(spec, scoped_view(spec, COMMAND_INPUT), model))
    assert result.output == Proposal(outcome="proposed", amount=42.0)
    usage = result.usage
    assert (usage.model, usage.input_tokens, usage.output_tokens, usage.requests) == (
        "fake-claude", 120, 20, 2,
    )  # fmt: skip
    first = server.requests[0]
    assert len(server.requests) == 2
    assert first["model"] == "fake-claude" and "final_result" in [t["name"] for t in first["tools"]]
    assert "Propose a refund for: Charged twice" in server.prompts()[0]  # the system prompt
    assert all("ana@example.com" not in p and "4242" not in p for p in server.prompts())
    assert "at most 500" in server.prompts()[1]  # the re-ask told it what was wrong


def test_an_anthropic_rate_limit_is_transient_with_its_retry_after() -> None:
    spec = replace(SPEC, model="anthropic:fake-claude")
    with FakeOpenAI([Reply.error(429, retry_after_s=2)]) as server, pytest.raises(StepError) as e:
        model = build_model(spec.model or "", _anthropic(server))
        asyncio.run(run_model_step(spec, scoped_view(spec, COMMAND_INPUT), model))
    assert (e.value.error_class, e.value.error_type, e.value.retry_after_s) == (
        "transient", "rate_limited", 2.0,
    )  # fmt: skip
