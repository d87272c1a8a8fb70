"""The runner's work queue: order per workflow, bounds, priority lanes, weighted fairness and
per-tenant rate limits."""

from __future__ import annotations

from collections.abc import Mapping

from agents.scheduling import Pending, TenantLimit, WorkQueue
from agents.settings import RunnerSettings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_queue(
    max_in_flight: int,
    per_tenant: int,
    limits: Mapping[str, TenantLimit] | None = None,
    clock: Clock | None = None,
) -> WorkQueue[str]:
    def limit_for(tenant: str) -> TenantLimit:
        return (limits or {}).get(tenant, TenantLimit(per_tenant))

    return WorkQueue(max_in_flight, limit_for, clock or Clock())


def _pending(key: str, tenant: str, offset: int, partition: int = 0, urgent: bool = False
             ) -> Pending[str]:  # fmt: skip
    return Pending(partition, offset, key.encode(), tenant, f"{key}@{offset}", urgent)


def test_one_step_per_key_in_arrival_order_and_others_run_meanwhile() -> None:
    queue = make_queue(10, 10)
    for i, key in enumerate(["a", "a", "b", "a", "c"]):
        queue.add(_pending(key, "acme", i))
    started = list(queue.ready())
    assert [p.item for p in started] == ["a@0", "b@2", "c@4"]
    assert (queue.in_flight, queue.buffered) == (3, 2)
    assert list(queue.ready()) == []  # a's next waits for a@0
    queue.done(started[0])
    assert [p.item for p in queue.ready()] == ["a@1"]


def test_the_global_and_tenant_bounds_hold_and_a_busy_tenant_does_not_block_others() -> None:
    queue = make_queue(3, 2)
    for i in range(4):
        queue.add(_pending(f"noisy-{i}", "noisy", i))
    queue.add(_pending("quiet-0", "quiet", 9))
    started = [p.item for p in queue.ready()]
    assert sorted(started) == ["noisy-0@0", "noisy-1@1", "quiet-0@9"]  # noisy at its bound
    assert queue.in_flight == 3
    assert list(queue.ready()) == []


def test_dropping_a_partition_forgets_its_waiting_commands_only() -> None:
    queue = make_queue(1, 1)
    queue.add(_pending("a", "t", 0, partition=0))
    queue.add(_pending("b", "t", 0, partition=1))
    queue.add(_pending("c", "t", 1, partition=1))
    [first] = queue.ready()
    assert queue.drop_partition(1) == 2
    assert queue.buffered == 0
    assert queue.waiting_by_tenant() == {}
    queue.done(first)
    assert list(queue.ready()) == []


def drain(queue: WorkQueue[str], order: list[str]) -> None:
    """Run everything, one slot at a time, finishing each start at once."""
    while True:
        started = list(queue.ready())
        if not started:
            return
        for p in started:
            order.append(p.tenant)
            queue.done(p)


def test_a_flooding_tenant_takes_turns_with_a_small_one() -> None:
    queue = make_queue(1, 1)
    for i in range(1000):
        queue.add(_pending(f"a-{i}", "a", i))
    for i in range(10):
        queue.add(_pending(f"b-{i}", "b", 1000 + i))
    order: list[str] = []
    drain(queue, order)
    assert order[:20] == ["a", "b"] * 10  # 1:1 weights: every other start is b's
    assert order.count("a") == 1000


def test_weights_share_starts_in_proportion() -> None:
    queue = make_queue(1, 1, {"gold": TenantLimit(1, weight=3.0)})
    for i in range(400):
        queue.add(_pending(f"g-{i}", "gold", i))
        queue.add(_pending(f"s-{i}", "silver", i))
    order: list[str] = []
    drain(queue, order)
    assert order[:400].count("gold") == 300


def test_an_idle_tenant_banks_no_credit() -> None:
    queue = make_queue(1, 1)
    for i in range(100):
        queue.add(_pending(f"a-{i}", "a", i))
    order: list[str] = []
    for _ in range(50):  # a runs alone for 50 starts
        [p] = queue.ready()
        order.append(p.tenant)
        queue.done(p)
    for i in range(20):
        queue.add(_pending(f"b-{i}", "b", 100 + i))
    drain(queue, order)
    assert order[50:60] == ["b", "a"] * 5 or order[50:60] == ["a", "b"] * 5


def test_an_urgent_step_jumps_the_queue_of_its_own_and_other_tenants() -> None:
    queue = make_queue(1, 1)
    for i in range(50):
        queue.add(_pending(f"a-{i}", "a", i))
    queue.add(_pending("page-oncall", "b", 99, urgent=True))
    [first] = queue.ready()
    assert first.item == "page-oncall@99"


def test_a_rate_limited_tenant_starts_no_faster_than_its_rate() -> None:
    clock = Clock()
    queue = make_queue(100, 100, {"slow": TenantLimit(100, rate_per_s=2.0)}, clock)
    for i in range(10):
        queue.add(_pending(f"s-{i}", "slow", i))
        queue.add(_pending(f"f-{i}", "fast", i))
    started = [p.tenant for p in queue.ready()]
    assert started.count("slow") == 2 and started.count("fast") == 10  # a 2-step burst
    clock.now += 1.0
    assert [p.tenant for p in queue.ready()] == ["slow", "slow"]
    clock.now += 0.25
    assert list(queue.ready()) == []


def test_settings_give_each_tenant_its_override_or_the_defaults() -> None:
    settings = RunnerSettings(
        steps_max_per_tenant=20,
        steps_rate_per_tenant=50,
        steps_tenant_limits={"acme": {"max_in_flight": 5, "weight": 2}},  # type: ignore[dict-item]
    )
    assert settings.limit_for("acme") == TenantLimit(5, 50, 2.0)
    assert settings.limit_for("globex") == TenantLimit(20, 50, 1.0)
