"""A tenant's daily spend: the usage records the runner writes, their sums per UTC day, and the
budget check the runner makes before a model step."""

from __future__ import annotations

from decimal import Decimal

from agents.settings import RunnerSettings, TenantOverride
from processors.steps.usage import DailySpend, Spent, encode_usage, over_budget, utc_day

NOON_DEC_1 = 1796126400000  # 2026-12-01T12:00:00Z
DAY_MS = 86_400_000


def test_a_usage_record_is_summed_under_its_tenant_and_the_utc_day_it_ended() -> None:
    sums = DailySpend()
    sums.add_encoded(encode_usage("acme", "c1", "gpt", 100, 20, "0.0015", NOON_DEC_1))
    sums.add_encoded(encode_usage("acme", "c2", "gpt", 50, 10, None, NOON_DEC_1 + 1000))
    sums.add_encoded(encode_usage("acme", "c3", "gpt", 7, 3, "0.5", NOON_DEC_1 + DAY_MS))
    sums.add_encoded(encode_usage("globex", "c4", "gpt", 1, 1, "0.25", NOON_DEC_1))
    assert sums.spent("acme", "2026-12-01") == Spent(180, Decimal("0.0015"))
    assert sums.spent("acme", "2026-12-02") == Spent(10, Decimal("0.5"))
    assert sums.spent("globex", "2026-12-01") == Spent(2, Decimal("0.25"))
    assert sums.spent("initech", "2026-12-01") == Spent()


def test_days_before_the_one_given_are_forgotten() -> None:
    sums = DailySpend()
    sums.add_encoded(encode_usage("acme", "c1", "gpt", 1, 1, None, NOON_DEC_1 - DAY_MS))
    sums.add_encoded(encode_usage("acme", "c2", "gpt", 2, 2, None, NOON_DEC_1))
    sums.forget_before("2026-12-01")
    assert list(sums.totals) == [("acme", "2026-12-01")]


def test_the_utc_day_turns_at_midnight_utc() -> None:
    midnight = NOON_DEC_1 + DAY_MS // 2
    assert (utc_day(midnight - 1), utc_day(midnight)) == ("2026-12-01", "2026-12-02")


def test_a_budget_is_reached_at_its_value_by_tokens_or_by_cost() -> None:
    assert over_budget(Spent(149, Decimal(0)), 150, None) is None
    assert over_budget(Spent(150, Decimal(0)), 150, None) == (
        "150 tokens spent today, the daily budget is 150"
    )
    assert over_budget(Spent(1, Decimal("2.00")), 150, Decimal(2)) == (
        "2.00 USD spent today, the daily budget is 2"
    )
    assert over_budget(Spent(10**9, Decimal(10**6)), None, None) is None


def test_a_tenant_override_replaces_only_the_daily_figures_it_names() -> None:
    settings = RunnerSettings(
        steps_tenant_daily_tokens=1000,
        steps_tenant_daily_cost_usd=Decimal(5),
        steps_tenant_limits={"acme": TenantOverride(daily_tokens=50), "globex": TenantOverride()},
    )
    assert settings.daily_budget_for("acme") == (50, Decimal(5))
    assert settings.daily_budget_for("globex") == (1000, Decimal(5))
    assert settings.daily_budget_for("initech") == (1000, Decimal(5))
    assert settings.has_daily_budgets
    assert not RunnerSettings().has_daily_budgets
    one_override = {"acme": TenantOverride(daily_cost_usd=Decimal(1))}
    only_one = RunnerSettings(steps_tenant_limits=one_override)
    assert only_one.has_daily_budgets
    assert only_one.daily_budget_for("globex") == (None, None)
