"""The agent runtime: steps that call models (through pydantic-ai) and tools.

:func:`run_model_step` runs one declared model step on its scoped view and returns its
validated output and usage, or raises :class:`StepError` with the class (transient or
permanent) the engine's retry policy needs. The runner that consumes step commands exactly
once builds on it.

The names below load on first use: importing ``agents.settings`` (which every CLI command's
settings do) must not pay for pydantic-ai and the provider SDKs, seconds of start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.model_step import StepError, StepRun, StepUsage, run_model_step, run_with_retries
    from agents.models import ModelEndpoint, build_model, build_step_model

_WHERE = {
    "StepError": "agents.model_step",
    "StepRun": "agents.model_step",
    "StepUsage": "agents.model_step",
    "run_model_step": "agents.model_step",
    "run_with_retries": "agents.model_step",
    "ModelEndpoint": "agents.models",
    "build_model": "agents.models",
    "build_step_model": "agents.models",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ModelEndpoint",
    "StepError",
    "StepRun",
    "StepUsage",
    "build_model",
    "build_step_model",
    "run_model_step",
    "run_with_retries",
]
