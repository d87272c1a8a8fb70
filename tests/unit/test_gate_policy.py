"""The gate policy: loading and its clear errors, patterns, roles per tenant, freshness rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from processors.gate import GatePolicy, PolicyError, load_policy
from processors.gate.policy import matches
from tests import gatekit as gk


def policy_error(data: Any) -> str:
    with pytest.raises(PolicyError) as err:
        load_policy(data)
    assert isinstance(err.value, ValueError)
    return str(err.value)


def test_should_load_the_shipped_policy_file() -> None:
    policy = load_policy(json.loads((gk.ROOT / "config" / "policy.json").read_text()))
    assert isinstance(policy, GatePolicy)
    assert policy.freshness.max_age_for("alert.fired") == gk.DAY_MS
    assert policy.freshness.max_age_for("ticket.created") == 7 * gk.DAY_MS
    assert policy.sizes.max_header_bytes == 8192


def test_should_name_an_unknown_top_level_field() -> None:
    data = {**gk.policy_data(), "sourcez": {}}
    message = policy_error(data)
    assert message.startswith("invalid gate policy: ")
    assert "sourcez: Extra inputs are not permitted" in message


def test_should_name_an_unknown_field_inside_a_source() -> None:
    data = gk.policy_data()
    data["sources"]["helpdesk"]["tenant"] = ["acme"]
    assert "sources.helpdesk.tenant: Extra inputs are not permitted" in policy_error(data)


def test_should_name_an_unknown_field_in_a_permission_rule() -> None:
    data = gk.policy_data()
    data["permissions"][0]["role"] = "approver"
    assert "permissions.0.role: Extra inputs are not permitted" in policy_error(data)


def test_should_refuse_a_source_with_no_tenants() -> None:
    data = gk.policy_data()
    data["sources"]["jobs"]["tenants"] = []
    message = policy_error(data)
    assert "sources.jobs.tenants" in message
    assert "at least 1 item" in message


def test_should_refuse_a_policy_without_sources() -> None:
    assert "sources" in policy_error({"version": "x", "sources": {}})
    assert "sources: Field required" in policy_error({"version": "x"})


def test_should_refuse_an_unknown_actor_kind() -> None:
    data = gk.policy_data()
    data["permissions"][0]["kinds"] = ["user", "robot"]
    message = policy_error(data)
    assert "permissions.0.kinds" in message
    assert "unknown actor kinds ['robot']; use user, service, system" in message


def test_should_refuse_a_rule_without_event_types() -> None:
    assert "permissions.0.event_types" in policy_error(
        {"sources": {"s": {"tenants": ["*"]}}, "permissions": [{"event_types": []}]}
    )


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("sizes", "max_key_bytes", 0),
        ("sizes", "max_value_bytes", -1),
        ("sizes", "max_headers", -1),
        ("freshness", "default_max_age_ms", 0),
        ("freshness", "max_future_skew_ms", -5),
        ("sizes", "max_key_bytes", "big"),
    ],
)
def test_should_refuse_out_of_range_numbers(section: str, field: str, value: object) -> None:
    data = gk.policy_data()
    data[section][field] = value
    assert f"{section}.{field}" in policy_error(data)


def test_should_report_every_problem_at_once() -> None:
    data = gk.policy_data()
    data["sources"]["jobs"]["tenants"] = []
    data["permissions"][0]["kinds"] = ["robot"]
    message = policy_error(data)
    assert "sources.jobs.tenants" in message and "permissions.0.kinds" in message


@pytest.mark.parametrize("data", [None, [], "policy", 42])
def test_should_refuse_something_that_is_not_an_object(data: object) -> None:
    assert policy_error(data).startswith("invalid gate policy: ")


def test_policy_is_immutable() -> None:
    policy = gk.make_policy()
    with pytest.raises(ValueError):
        policy.version = "other"


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("approval.*", "approval.granted", True),
        ("approval.*", "approvals.granted", False),
        ("approval.granted", "approval.granted", True),
        ("approval.granted", "approval.granted2", False),
        ("*", "anything", True),
        ("alert.", "alert.fired", False),
    ],
)
def test_patterns_are_exact_or_prefix_star(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name) is expected


def test_should_pick_the_most_specific_max_age() -> None:
    policy = load_policy(
        {
            "sources": {"s": {"tenants": ["*"]}},
            "freshness": {
                "default_max_age_ms": 1000,
                "max_age_ms": {"*": 10, "alert.*": 20, "alert.fired": 30, "alert.f*": 40},
            },
        }
    )
    fresh = policy.freshness
    assert fresh.max_age_for("alert.fired") == 30
    assert fresh.max_age_for("alert.firing") == 40
    assert fresh.max_age_for("alert.resolved") == 20
    assert fresh.max_age_for("ticket.created") == 10


def test_roles_count_plainly_or_for_the_events_tenant_only() -> None:
    policy = gk.make_policy()
    ok = policy.actor_permitted
    assert ok("approval.granted", "acme", "user", ["approver"])
    assert ok("approval.granted", "acme", "user", ["acme:approver"])
    assert not ok("approval.granted", "acme", "user", ["globex:approver"])
    assert not ok("approval.granted", "acme", "user", ["approver:acme", "acme-approver"])
    assert not ok("approval.granted", "acme", "service", ["approver"])
    assert not ok("approval.denied", "acme", "user", [])
    assert ok("approval.requested", "acme", "system", [])  # no rule: anyone
    assert ok("step.failed", "acme", "service", [])
    assert not ok("step.failed", "acme", "user", ["admin"])


def test_every_matching_rule_must_hold() -> None:
    policy = load_policy(
        {
            "sources": {"s": {"tenants": ["*"]}},
            "permissions": [
                {"event_types": ["refund.*"], "roles": ["finance"]},
                {"event_types": ["refund.proposed"], "kinds": ["service"]},
            ],
        }
    )
    assert policy.actor_permitted("refund.proposed", "t", "service", ["finance"])
    assert not policy.actor_permitted("refund.proposed", "t", "user", ["finance"])
    assert not policy.actor_permitted("refund.proposed", "t", "service", [])
    assert policy.actor_permitted("refund.issued", "t", "user", ["t:finance"])


def test_sources_allow_tenants_and_types_by_pattern() -> None:
    policy = gk.make_policy()
    assert policy.source_allows_tenant("helpdesk", "acme")
    assert not policy.source_allows_tenant("helpdesk", "initech")
    assert policy.source_allows_tenant("jobs", "initech")
    assert not policy.source_allows_tenant("nobody", "acme")
    assert policy.source_allows_type("helpdesk", "refund.proposed")
    assert not policy.source_allows_type("helpdesk", "alert.fired")
    assert not policy.source_allows_type("nobody", "ticket.created")


def test_revoked_key_ids_revoke_keys_in_the_keyring_built_from_the_policy() -> None:
    ring = gk.make_keyring(gk.make_policy())
    assert gk.REVOKED_KEY_ID not in ring.key_ids("helpdesk")
    assert gk.REVOKED_KEY_ID in ring.key_ids("helpdesk", include_revoked=True)


def test_should_refuse_key_revoked_in_policy_even_when_keyring_does_not_know_it() -> None:
    from agentflow.testing import sample_events
    from processors.contract import Record
    from processors.events import KeyRing, encode
    from processors.gate import Gate, load_policy

    event = next(e for e in sample_events() if e.event_type == "ticket.created")
    policy = load_policy(
        {"sources": {event.source: {"tenants": ["*"]}}, "revoked_key_ids": ["old-key"]}
    )
    ring = KeyRing.from_mapping({event.source: {"old-key": "s3cret"}})  # not told of revocation
    value = encode(event)
    record = Record("ingress", 0, 0, event.key, value, ring.headers("old-key", event.key, value))
    outcome = Gate(policy, ring).check(record, event.occurred_at)
    assert getattr(outcome, "reason", None) == "key_revoked"
