"""Models by name: ``openai:<model>`` on any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama,
the llama.cpp server), with the provider SDK's own retries off, so the runner owns retrying."""

from __future__ import annotations

from dataclasses import dataclass

from openai import AsyncOpenAI
from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError
from pydantic_ai.models import Model
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider


@dataclass(frozen=True)
class ModelEndpoint:
    """Where ``openai:`` models are served, and the key (from settings, never logged)."""

    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0


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
    raise ValueError(f"model {name!r}: unknown provider {provider!r} (known: openai)")


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
