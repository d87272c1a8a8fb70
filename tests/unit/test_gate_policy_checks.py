"""Gate.check's policy checks: the tenants a source may speak for, the types it may send, the
actors permitted per type and tenant, freshness, and the cached verdicts behind them."""

from __future__ import annotations

from processors.events import Actor
from processors.gate.gate import VERDICT_CACHE_ENTRIES
from tests import gatekit as gk
from tests.gatekit import NOW_MS, Raw, event, signed
from tests.unit.test_gate_checks import accepted, rejected


def test_should_refuse_a_tenant_the_source_may_not_speak_for() -> None:
    out = rejected(signed(event("ticket.created", tenant="initech")))
    assert out.reason == "tenant_not_allowed"
    assert out.tenant == "initech"
    assert accepted(signed(event("job.completed", tenant="initech")))  # jobs: tenants ["*"]


def test_should_refuse_an_event_type_the_source_may_not_send() -> None:
    alert = event("alert.fired").model_copy(update={"source": "helpdesk"})
    out = rejected(signed(alert))
    assert out.reason == "event_type_not_allowed"
    assert "alert.fired" in out.detail


def _granted_by(actor: Actor, tenant: str = "acme") -> Raw:
    return signed(event("approval.granted", actor=actor, tenant=tenant))


def test_should_refuse_approval_granted_by_a_user_without_the_approver_role() -> None:
    out = rejected(_granted_by(Actor(id="u-1", kind="user", roles=["support"])))
    assert out.reason == "actor_not_permitted"
    assert rejected(_granted_by(Actor(id="u-1", kind="user"))).reason == "actor_not_permitted"


def test_should_accept_approval_granted_by_an_approver_for_the_events_tenant() -> None:
    assert accepted(_granted_by(Actor(id="u-1", kind="user", roles=["acme:approver"])))
    assert accepted(_granted_by(Actor(id="u-1", kind="user", roles=["approver"])))


def test_should_refuse_approval_granted_by_an_approver_for_another_tenant() -> None:
    raw = _granted_by(Actor(id="u-1", kind="user", roles=["globex:approver"]))
    assert rejected(raw).reason == "actor_not_permitted"
    again = _granted_by(Actor(id="u-1", kind="user", roles=["globex:approver"]), tenant="globex")
    assert accepted(again)


def test_should_refuse_approval_granted_by_a_service_even_with_the_role() -> None:
    raw = _granted_by(Actor(id="svc", kind="service", roles=["approver", "acme:approver"]))
    assert rejected(raw).reason == "actor_not_permitted"


def test_should_refuse_a_step_event_from_a_user_when_kinds_are_service_and_system() -> None:
    user = Actor(id="u-1", kind="user", roles=["admin"])
    assert rejected(signed(event("step.completed", actor=user))).reason == "actor_not_permitted"
    system = Actor(id="agentflow", kind="system")
    assert accepted(signed(event("step.completed", actor=system)))


def test_should_refuse_an_alert_older_than_one_day_as_stale() -> None:
    day = gk.DAY_MS
    assert accepted(signed(event("alert.fired", occurred_at=NOW_MS - day)))
    out = rejected(signed(event("alert.fired", occurred_at=NOW_MS - day - 1)))
    assert out.reason == "stale_event"
    assert f"allows {day} ms" in out.detail
    # Other types keep the default of seven days.
    assert accepted(signed(event("ticket.created", occurred_at=NOW_MS - 2 * day)))
    assert accepted(signed(event("ticket.created", occurred_at=NOW_MS - 7 * day)))
    stale = signed(event("ticket.created", occurred_at=NOW_MS - 7 * day - 1))
    assert rejected(stale).reason == "stale_event"


def test_should_refuse_an_event_further_in_the_future_than_the_skew() -> None:
    assert accepted(signed(event(occurred_at=NOW_MS + 60_000)))
    out = rejected(signed(event(occurred_at=NOW_MS + 60_001)))
    assert out.reason == "future_event"
    assert "60001 ms in the future" in out.detail


def test_cached_policy_verdicts_follow_each_actors_roles_and_stay_bounded() -> None:
    gate = gk.make_gate()
    approver = Actor(id="u-1", kind="user", roles=["acme:approver"])
    support = Actor(id="u-1", kind="user", roles=["support"])
    for _ in range(3):  # alternating: each answer comes from its own cached verdict
        assert accepted(_granted_by(approver), gate)
        assert rejected(_granted_by(support), gate).reason == "actor_not_permitted"
        assert rejected(_granted_by(approver, tenant="initech"), gate).reason in (
            "tenant_not_allowed", "actor_not_permitted",
        )  # fmt: skip
    for i in range(VERDICT_CACHE_ENTRIES + 10):
        gate.check(_granted_by(Actor(id="u", kind="user", roles=[f"r{i}"])).record(), NOW_MS)
    assert len(gate._verdicts) <= VERDICT_CACHE_ENTRIES
    assert accepted(_granted_by(approver), gate)
