"""The step runner's settings: how many steps run at once, and how it stops."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from streams.settings import settings_config


class RunnerSettings(BaseSettings):
    """Concurrency bounds and the stop grace of ``agentflow steps run``."""

    model_config = settings_config()

    #: Steps running at once, across all workflows.
    steps_max_in_flight: int = Field(default=100, ge=1)
    #: Steps running at once for any one tenant (a noisy tenant cannot take every slot).
    steps_max_per_tenant: int = Field(default=50, ge=1)
    #: Commands received but not started past which the runner pauses its partitions.
    steps_max_buffered: int = Field(default=1000, ge=1)
    #: Seconds in-flight steps get to finish after SIGTERM; the rest are redelivered.
    steps_grace_s: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _tenant_bound_within_global(self) -> RunnerSettings:
        if self.steps_max_per_tenant > self.steps_max_in_flight:
            raise ValueError(
                f"steps_max_per_tenant ({self.steps_max_per_tenant}) must be at most "
                f"steps_max_in_flight ({self.steps_max_in_flight})"
            )
        return self
