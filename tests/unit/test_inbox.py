"""The approval inbox's logic, without a broker: reviewer accounts, what a reviewer sees, and
the signed answer a decision becomes."""

from __future__ import annotations

from typing import Any

import pytest

from edge.inbox import APPROVALS_SOURCE, Inbox, InboxError, PendingApprovals
from edge.reviewers import (
    AccountsError,
    Reviewer,
    hash_password,
    parse_accounts,
    token_digest,
)
from processors.events import ApprovalDeniedV2, ApprovalGrantedV2, KeyRing, decode, proposal_hash

PROPOSAL = {"amount": "42.00", "currency": "EUR"}
KEYS = KeyRing.from_mapping({APPROVALS_SOURCE: {"approvals-1": "s3cret"}})
OLGA = Reviewer("u-olga", "Olga", ("acme:refund_approver", "globex:support"))
GWEN = Reviewer("u-gwen", "Gwen", ("globex:refund_approver",))
ANY = Reviewer("u-ann", "Ann", ("refund_approver",))


def _entry(tenant: str, approval_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "approval_id": approval_id, "step": "approve_refund", "state": "awaiting_approval",
        "required_role": "refund_approver", "requested_at": 1, "due_at": None,
        "causation_id": "c-1", "proposal_hash": proposal_hash(PROPOSAL),
        "requested_by": ["cust-77", "step-worker"], "quorum": 1, "granted_by": [],
        "granted_changes": None, "proposal": dict(PROPOSAL), "summary": "Refund",
        "workflow_id": f"wf-{approval_id}", "tenant": tenant, "definition": "support_triage",
        "started_by": "cust-77", "timeline": [], **extra,
    }  # fmt: skip


class Fixed(PendingApprovals):
    """The read model with fixed entries (no changelog)."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self._fixed = entries

    def entries(self) -> list[dict[str, Any]]:
        return list(self._fixed)


INBOX = Inbox(Fixed([_entry("acme", "a-1"), _entry("globex", "g-1")]), KEYS)


def test_a_reviewer_sees_only_what_their_roles_allow_for_each_tenant() -> None:
    assert [e["approval_id"] for e in INBOX.visible(OLGA)] == ["a-1"]
    assert [e["approval_id"] for e in INBOX.visible(GWEN)] == ["g-1"]
    assert [e["approval_id"] for e in INBOX.visible(ANY)] == ["a-1", "g-1"]
    with pytest.raises(InboxError, match="no pending approval 'g-1'") as refused:
        INBOX.show(OLGA, "g-1")
    assert refused.value.status == 404


def test_a_decision_is_a_signed_v2_answer_naming_the_reviewer_and_the_proposal_shown() -> None:
    decided = INBOX.decide(OLGA, "a-1", True, {"amount": "30.00", "currency": "EUR"}, "ok", 5)
    event = decode(decided.value)
    assert isinstance(event, ApprovalGrantedV2)
    assert (event.actor.id, event.actor.kind, event.actor.roles) == (
        "u-olga", "user", ["acme:refund_approver"],
    )  # fmt: skip
    p = event.payload
    assert (p.reviewer_id, p.approval_id, p.decided_at, p.comment) == ("u-olga", "a-1", 5, "ok")
    assert [(c.field, c.old_value, c.new_value) for c in p.changes] == [
        ("amount", "42.00", "30.00")
    ]  # only what changed
    assert p.proposal_hash == proposal_hash(PROPOSAL)
    assert (event.workflow_id, event.tenant, event.source) == ("wf-a-1", "acme", APPROVALS_SOURCE)
    assert KEYS.verify(APPROVALS_SOURCE, dict(decided.headers)["af-key-id"], decided.key,
                       decided.value, dict(decided.headers)["af-signature"]) is None  # fmt: skip
    again = INBOX.decide(OLGA, "a-1", True, {"amount": "30.00"}, "ok", 9)
    assert decode(again.value).event_id == event.event_id  # a double click is a duplicate
    denied = decode(INBOX.decide(OLGA, "a-1", False, {"amount": "1"}).value)
    assert isinstance(denied, ApprovalDeniedV2) and denied.payload.changes == []


@pytest.mark.parametrize(
    ("entry", "edits", "status", "message"),
    [
        (_entry("acme", "a-2", requested_by=["u-olga"]), {}, 403, "you asked for this approval"),
        (_entry("acme", "a-2", started_by="u-olga"), {}, 403, "you asked for this approval"),
        (_entry("acme", "a-2", granted_by=["u-olga"], quorum=2), {}, 409, "granted it already"),
        (_entry("acme", "a-2"), {"iban": "x"}, 400, "are not fields of the proposal"),
    ],
)
def test_the_inbox_refuses_what_the_engine_would(
    entry: dict[str, Any], edits: dict[str, str], status: int, message: str
) -> None:
    with pytest.raises(InboxError, match=message) as refused:
        Inbox(Fixed([entry]), KEYS).decide(OLGA, "a-2", True, edits)
    assert refused.value.status == status


def test_accounts_sign_in_by_password_or_token_and_hold_no_secret_in_clear() -> None:
    accounts = parse_accounts({"reviewers": [
        {"id": "u-olga", "roles": ["acme:refund_approver"], "password_argon2": hash_password("pw"),
         "token_sha256": token_digest("tok")},
    ]})  # fmt: skip
    assert accounts.login("u-olga", "pw") == Reviewer("u-olga", "u-olga",
                                                      ("acme:refund_approver",))  # fmt: skip
    assert accounts.login("u-olga", "wrong") is None
    assert accounts.login("u-nobody", "pw") is None
    assert accounts.by_token("tok") is not None and accounts.by_token("other") is None
    assert "pw" not in repr(accounts.passwords)
    with pytest.raises(AccountsError, match="give password_argon2 or token_sha256"):
        parse_accounts({"reviewers": [{"id": "u-x", "roles": []}]})
    with pytest.raises(AccountsError, match="must be JSON"):
        parse_accounts([])


def test_an_inbox_needs_a_key_for_its_source() -> None:
    with pytest.raises(InboxError, match="no signing key for the 'approvals-ui' source"):
        Inbox(Fixed([]), KeyRing.from_mapping({"helpdesk": {"h": "s"}}))
