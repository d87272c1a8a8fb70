"""Reviewer accounts: who may sign in to the approval inbox, and what they may approve.

From JSON (``AGENTFLOW_REVIEWERS`` or the file ``AGENTFLOW_REVIEWERS_FILE``)::

    {"reviewers": [
      {"id": "u-olga", "name": "Olga", "roles": ["acme:refund_approver"],
       "password_argon2": "$argon2id$v=19$m=65536,t=3,p=4$...",
       "token_sha256": ["<sha256 hex of an API token>"]}
    ]}

A role is held for every tenant (``refund_approver``) or for one (``acme:refund_approver``), as
in the gate's policy. Passwords are argon2 hashes (``agentflow approvals hash-password``);
API tokens (for the CLI) are kept as their sha256. Nothing here holds a secret in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from processors.events import Actor

_HASHER = PasswordHasher()
# Verified when the id is unknown, so a wrong id takes as long as a wrong password.
_DUMMY = _HASHER.hash("agentflow-no-such-reviewer")


class AccountsError(Exception):
    """The reviewer accounts are wrong: the message names the fix."""


@dataclass(frozen=True)
class Reviewer:
    """A signed-in reviewer."""

    id: str
    name: str
    roles: tuple[str, ...]

    def may_review(self, tenant: str, required_role: str) -> bool:
        """True if the reviewer holds ``required_role`` plainly or for ``tenant``."""
        return required_role in self.roles or f"{tenant}:{required_role}" in self.roles

    def actor(self, tenant: str) -> Actor:
        """The reviewer as the actor of an answer for ``tenant``: the roles that apply there."""
        roles = [r for r in self.roles if ":" not in r or r.startswith(f"{tenant}:")]
        return Actor(id=self.id, kind="user", roles=roles)


@dataclass
class Accounts:
    """Signs reviewers in by password or API token."""

    reviewers: Mapping[str, Reviewer]
    passwords: Mapping[str, str] = field(default_factory=dict)
    tokens: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def login(self, reviewer_id: str, password: str) -> Reviewer | None:
        """The reviewer if ``password`` is theirs, else None (in about the same time)."""
        stored = self.passwords.get(reviewer_id)
        try:
            _HASHER.verify(stored or _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        return self.reviewers.get(reviewer_id) if stored is not None else None

    def by_token(self, token: str) -> Reviewer | None:
        """The reviewer an API token belongs to, else None; compared in constant time."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        found = None
        for reviewer_id, digests in self.tokens.items():
            for d in digests:
                if hmac.compare_digest(d.lower(), digest):
                    found = self.reviewers.get(reviewer_id)
        return found


def hash_password(password: str) -> str:
    """An argon2id hash for ``password_argon2``."""
    return _HASHER.hash(password)


def token_digest(token: str) -> str:
    """The sha256 hex of an API token, for ``token_sha256``."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_accounts(doc: Any) -> Accounts:
    """:class:`Accounts` from the parsed JSON. Raises :class:`AccountsError`."""
    entries = doc.get("reviewers") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise AccountsError('reviewer accounts must be JSON {"reviewers": [...]}')
    reviewers: dict[str, Reviewer] = {}
    passwords: dict[str, str] = {}
    tokens: dict[str, list[str]] = {}
    for n, entry in enumerate(entries):
        rid = entry.get("id") if isinstance(entry, dict) else None
        roles = entry.get("roles") if isinstance(entry, dict) else None
        if not isinstance(rid, str) or not rid or not isinstance(roles, list):
            raise AccountsError(f"reviewer #{n + 1}: give an id and a list of roles")
        if rid in reviewers:
            raise AccountsError(f"reviewer {rid!r} is listed twice")
        reviewers[rid] = Reviewer(rid, str(entry.get("name") or rid), tuple(map(str, roles)))
        if entry.get("password_argon2"):
            passwords[rid] = str(entry["password_argon2"])
        digests = entry.get("token_sha256") or []
        tokens[rid] = [digests] if isinstance(digests, str) else [str(d) for d in digests]
        if rid not in passwords and not tokens[rid]:
            raise AccountsError(f"reviewer {rid!r}: give password_argon2 or token_sha256")
    return Accounts(reviewers, passwords, tokens)


def load_accounts(text: str | None, path: Path | None) -> Accounts:
    """The accounts from inline JSON or a file. Raises :class:`AccountsError`."""
    if text is None and path is None:
        raise AccountsError(
            "no reviewer accounts: set AGENTFLOW_REVIEWERS or AGENTFLOW_REVIEWERS_FILE"
        )
    try:
        raw = text if text is not None else (path or Path()).read_text()
    except OSError as exc:
        raise AccountsError(f"cannot read the reviewers file {path}: {exc.strerror}") from None
    try:
        return parse_accounts(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise AccountsError(f"the reviewer accounts are not valid JSON: {exc}") from None
