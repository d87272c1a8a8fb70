"""The agent runtime: steps that call models (through pydantic-ai) and tools.

:func:`run_model_step` runs one declared model step on its scoped view and returns its
validated output and usage, or raises :class:`StepError` with the class (transient or
permanent) the engine's retry policy needs. The runner that consumes step commands exactly
once builds on it.
"""

from agents.model_step import StepError, StepRun, StepUsage, run_model_step, run_with_retries
from agents.models import ModelEndpoint, build_model, build_step_model

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
