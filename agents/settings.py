"""The step runner's settings: how many steps run at once, per tenant, and how it stops."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings

from agents.scheduling import TenantLimit
from streams.settings import settings_config


class TenantOverride(BaseModel):
    """One tenant's entry in ``AGENTFLOW_STEPS_TENANT_LIMITS``; what it leaves out takes the
    defaults."""

    model_config = ConfigDict(extra="forbid")

    max_in_flight: int | None = Field(default=None, ge=1)
    rate_per_s: float | None = Field(default=None, gt=0)
    weight: float = Field(default=1.0, gt=0)
    daily_tokens: int | None = Field(default=None, ge=1)
    daily_cost_usd: Decimal | None = Field(default=None, gt=0)


class RunnerSettings(BaseSettings):
    """Concurrency bounds and the stop grace of ``agentflow steps run``."""

    model_config = settings_config()

    #: Steps running at once, across all workflows.
    steps_max_in_flight: int = Field(default=100, ge=1)
    #: Steps running at once for any one tenant (a noisy tenant cannot take every slot).
    steps_max_per_tenant: int = Field(default=50, ge=1)
    #: Step starts per second for any one tenant; None: no rate limit.
    steps_rate_per_tenant: float | None = Field(default=None, gt=0)
    #: Per-tenant overrides, JSON: {"acme": {"max_in_flight": 10, "rate_per_s": 5, "weight": 2}}.
    steps_tenant_limits: dict[str, TenantOverride] = Field(default_factory=dict)
    #: Model tokens a tenant may spend per UTC day (soft); None: no limit.
    steps_tenant_daily_tokens: int | None = Field(default=None, ge=1)
    #: Model cost in USD a tenant may spend per UTC day (soft); None: no limit.
    steps_tenant_daily_cost_usd: Decimal | None = Field(default=None, gt=0)
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

    def daily_budget_for(self, tenant: str) -> tuple[int | None, Decimal | None]:
        """``tenant``'s daily (tokens, cost in USD): its override where it has one."""
        override = self.steps_tenant_limits.get(tenant)
        tokens, cost = self.steps_tenant_daily_tokens, self.steps_tenant_daily_cost_usd
        if override is not None:
            tokens = override.daily_tokens or tokens
            cost = override.daily_cost_usd or cost
        return tokens, cost

    @property
    def has_daily_budgets(self) -> bool:
        """True if any tenant has a daily budget."""
        return any(
            b is not None
            for b in (self.steps_tenant_daily_tokens, self.steps_tenant_daily_cost_usd)
        ) or any(o.daily_tokens or o.daily_cost_usd for o in self.steps_tenant_limits.values())

    def limit_for(self, tenant: str) -> TenantLimit:
        """``tenant``'s bounds: its override where it has one, else the defaults."""
        override = self.steps_tenant_limits.get(tenant)
        if override is None:
            return TenantLimit(self.steps_max_per_tenant, self.steps_rate_per_tenant)
        return TenantLimit(
            override.max_in_flight or self.steps_max_per_tenant,
            override.rate_per_s or self.steps_rate_per_tenant,
            override.weight,
        )
