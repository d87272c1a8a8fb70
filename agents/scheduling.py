"""Which waiting step command runs next: the runner's :class:`WorkQueue`.

The rules, in the order they apply:

1. **Order per workflow.** One command in flight per key (workflow id), in arrival order.
2. **Bounds.** At most ``max_in_flight`` in flight; per tenant at most its ``max_in_flight``
   (:class:`TenantLimit`), and, if it has a ``rate_per_s``, no more starts than its token
   bucket allows.
3. **Priority lanes.** A command whose step is declared ``priority="urgent"`` starts before
   any normal one whose tenant could also start.
4. **Weighted fairness.** Within a lane, tenants take turns by stride scheduling: each start
   advances the tenant's *pass* by ``1 / weight``, and the eligible tenant with the lowest
   pass goes next. A tenant that had nothing waiting rejoins at the current pass, so idling
   banks no credit. A tenant that floods gets its share and no more: with weights 1:1, a
   tenant with 100 commands waiting behind another's 10,000 starts every other one.

Fairness works among the commands the runner has read: past ``steps_max_buffered`` waiting
commands it pauses its partitions, and what is behind them in Kafka waits in Kafka. Raise the
bound to cover a tenant's expected burst.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class TenantLimit:
    """One tenant's bounds: steps at once, starts per second (None: unbounded), its weight."""

    max_in_flight: int
    rate_per_s: float | None = None
    weight: float = 1.0


@dataclass
class Pending(Generic[T]):
    """A command waiting for, or holding, a slot."""

    partition: int
    offset: int
    key: bytes
    tenant: str
    item: T
    urgent: bool = False
    #: The record's W3C ``traceparent`` header (with tracing on), for the step's span.
    traceparent: bytes | None = None


class _Tenant:
    """A tenant's runnable keys per lane, what it has in flight, its pass and its bucket."""

    __slots__ = ("in_flight", "lanes", "limit", "pass_", "refilled", "tokens", "waiting")

    def __init__(self, limit: TenantLimit, now: float) -> None:
        self.limit = limit
        self.lanes: tuple[deque[bytes], deque[bytes]] = (deque(), deque())  # urgent, normal
        self.in_flight = 0
        self.waiting = 0
        self.pass_ = 0.0
        self.tokens = float(max(1.0, limit.rate_per_s or 0.0))  # a second's burst
        self.refilled = now

    def can_start(self, now: float) -> bool:
        if self.in_flight >= self.limit.max_in_flight:
            return False
        rate = self.limit.rate_per_s
        if rate is None:
            return True
        burst = max(1.0, rate)
        self.tokens = min(burst, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        return self.tokens >= 1.0

    def started(self) -> None:
        self.in_flight += 1
        self.waiting -= 1
        self.pass_ += 1.0 / self.limit.weight
        if self.limit.rate_per_s is not None:
            self.tokens -= 1.0


@dataclass
class WorkQueue(Generic[T]):
    """Waiting commands; :meth:`ready` starts what the rules allow.

    ``limit_for`` gives each tenant's :class:`TenantLimit` (settings: a default and
    per-tenant overrides); ``clock`` is monotonic seconds, for the rate limits.
    """

    max_in_flight: int
    limit_for: Callable[[str], TenantLimit]
    clock: Callable[[], float]
    in_flight: int = 0
    buffered: int = 0
    _by_key: dict[bytes, deque[Pending[T]]] = field(default_factory=dict)
    _busy_keys: set[bytes] = field(default_factory=set)
    _tenants: dict[str, _Tenant] = field(default_factory=dict)
    #: The pass of the last start: where a tenant that was idle rejoins.
    _pass: float = 0.0

    def add(self, pending: Pending[T]) -> None:
        queue = self._by_key.get(pending.key)
        tenant = self._tenant(pending.tenant)
        tenant.waiting += 1
        self.buffered += 1
        if queue is None:
            queue = self._by_key[pending.key] = deque()
            queue.append(pending)
            if pending.key not in self._busy_keys:
                self._runnable(tenant, pending)
        else:
            queue.append(pending)

    def ready(self) -> Iterator[Pending[T]]:
        """Start waiting commands while the rules allow, in the order they give."""
        now = self.clock()
        while self.in_flight < self.max_in_flight:
            chosen = self._choose(now)
            if chosen is None:
                return
            tenant, lane = chosen
            key = lane.popleft()
            queue = self._by_key[key]
            head = queue.popleft()
            if not queue:
                del self._by_key[key]
            self._busy_keys.add(key)
            self.buffered -= 1
            self.in_flight += 1
            self._pass = tenant.pass_
            tenant.started()
            yield head

    def done(self, pending: Pending[T]) -> None:
        """``pending`` finished (or was cancelled): its key and slots are free again."""
        self._busy_keys.discard(pending.key)
        self.in_flight -= 1
        tenant = self._tenants[pending.tenant]
        tenant.in_flight -= 1
        queue = self._by_key.get(pending.key)
        if queue:
            self._runnable(self._tenant(queue[0].tenant), queue[0])
        self._forget_if_idle(pending.tenant)

    def drop_partition(self, partition: int) -> int:
        """Forget waiting commands of ``partition`` (revoked); how many."""
        dropped = 0
        for key in list(self._by_key):
            queue = self._by_key[key]
            kept = deque(p for p in queue if p.partition != partition)
            for gone in (p for p in queue if p.partition == partition):
                self._tenants[gone.tenant].waiting -= 1
            dropped += len(queue) - len(kept)
            if kept:
                self._by_key[key] = kept
            else:
                del self._by_key[key]
        for name, tenant in list(self._tenants.items()):
            for lane in tenant.lanes:
                kept_keys = [k for k in lane if k in self._by_key]
                lane.clear()
                lane.extend(kept_keys)
            self._forget_if_idle(name)
        self.buffered -= dropped
        return dropped

    def waiting_by_tenant(self) -> Mapping[str, int]:
        """Commands waiting per tenant (the queue depth, by tenant)."""
        return {name: t.waiting for name, t in self._tenants.items() if t.waiting}

    # -- inside -------------------------------------------------------------------------
    def _tenant(self, name: str) -> _Tenant:
        tenant = self._tenants.get(name)
        if tenant is None:
            tenant = self._tenants[name] = _Tenant(self.limit_for(name), self.clock())
            tenant.pass_ = self._pass
        return tenant

    def _runnable(self, tenant: _Tenant, head: Pending[T]) -> None:
        if not tenant.lanes[0] and not tenant.lanes[1]:
            tenant.pass_ = max(tenant.pass_, self._pass)  # back from idle: no banked credit
        tenant.lanes[0 if head.urgent else 1].append(head.key)

    def _choose(self, now: float) -> tuple[_Tenant, deque[bytes]] | None:
        """The eligible tenant with the lowest pass in the first lane that has one."""
        for lane_index in (0, 1):
            best: _Tenant | None = None
            for tenant in self._tenants.values():
                if not tenant.lanes[lane_index] or (best is not None and
                                                    tenant.pass_ >= best.pass_):  # fmt: skip
                    continue
                if tenant.can_start(now):
                    best = tenant
            if best is not None:
                return best, best.lanes[lane_index]
        return None

    def _forget_if_idle(self, name: str) -> None:
        tenant = self._tenants.get(name)
        if tenant is None or tenant.in_flight or tenant.waiting:
            return
        rate = tenant.limit.rate_per_s
        if rate is not None:
            refilled = tenant.tokens + (self.clock() - tenant.refilled) * rate
            if refilled < max(1.0, rate):
                return  # forgotten, it would come back with a full bucket it has not earned
        # A tenant that comes back starts at the current pass: idling earns no credit.
        del self._tenants[name]
