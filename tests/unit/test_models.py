"""Models by name: each provider's client has its own retries off (the runner retries)."""

from __future__ import annotations

import pytest
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel

from agents import ModelEndpoint, build_model

ENDPOINT = ModelEndpoint("http://127.0.0.1:1/v1", "k", 5, anthropic_api_key="a")


def test_each_provider_builds_its_model_with_sdk_retries_off() -> None:
    openai = build_model("openai:gpt-4o-mini", ENDPOINT)
    assert isinstance(openai, OpenAIChatModel) and openai.model_name == "gpt-4o-mini"
    assert openai.client.max_retries == 0
    anthropic = build_model("anthropic:claude-3-5-haiku-latest", ENDPOINT)
    assert isinstance(anthropic, AnthropicModel)
    assert anthropic.client.max_retries == 0
    scripted = build_model("function:examples.models:scripted_support_model", ENDPOINT)
    assert isinstance(scripted, FunctionModel)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("gpt-4o", "write it as provider:model"),
        ("mistral:large", "unknown provider 'mistral'"),
        ("function:examples.models:nope", "cannot load"),
    ],
)
def test_a_bad_model_name_says_what_is_wrong(name: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        build_model(name, ENDPOINT)
