"""Models by name, with the provider SDK's own retries off, so the runner owns retrying:

- ``openai:<model>``: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, the llama.cpp
  server), at the endpoint's base URL and key;
- ``anthropic:<model>``: Anthropic's API (or a compatible one), with its own key and URL;
- ``function:<module>:<function>``: an offline model, pydantic-ai's ``FunctionModel`` around
  ``function(messages, info)`` — a deterministic stand-in whose judgement is scripted while
  the prompts, tool calls, output validation and ledger are the real path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from anthropic import AsyncAnthropic
from openai import AsyncOpenAI
from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError
from pydantic_ai.models import Model
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider


@dataclass(frozen=True)
class ModelEndpoint:
    """Where ``openai:`` models are served, and the key (from settings, never logged)."""

    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    anthropic_base_url: str | None = None
    anthropic_api_key: str | None = None


def build_model(name: str, endpoint: ModelEndpoint) -> Model:
    """The pydantic-ai model ``name`` names; ``ValueError`` for an unknown provider."""
    provider, sep, model = name.partition(":")
    if not sep or not model:
        raise ValueError(f"model {name!r}: write it as provider:model, e.g. openai:gpt-4o-mini")
    if provider == "openai":
        client = AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key or "unset",
            max_retries=0,  # the runner retries, with its own backoff and limits
            timeout=endpoint.timeout_s,
        )
        return OpenAIChatModel(model, provider=OpenAIProvider(openai_client=client))
    if provider == "anthropic":
        anthropic = AsyncAnthropic(
            api_key=endpoint.anthropic_api_key or "unset",
            base_url=endpoint.anthropic_base_url,
            max_retries=0,  # the runner retries
            timeout=endpoint.timeout_s,
        )
        return AnthropicModel(model, provider=AnthropicProvider(anthropic_client=anthropic))
    if provider == "function":
        return FunctionModel(_load_function(name, model), model_name=name)
    raise ValueError(
        f"model {name!r}: unknown provider {provider!r} (known: openai, anthropic, function)"
    )


def _load_function(name: str, path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"model {name!r}: cannot load {path!r} ({exc})") from None


def fallback_worthy(exc: Exception) -> bool:
    """Switch to the fallback model on a rate limit, a 5xx or a connection failure; a 4xx
    other than 429 would fail the same way on any model."""
    if isinstance(exc, ModelHTTPError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, ModelAPIError)


def build_step_model(model: str, fallback: str | None, endpoint: ModelEndpoint) -> Model:
    """A step's model, wrapped in a :class:`FallbackModel` when it declares a fallback."""
    primary = build_model(model, endpoint)
    if fallback is None:
        return primary
    return FallbackModel(primary, build_model(fallback, endpoint), fallback_on=fallback_worthy)
