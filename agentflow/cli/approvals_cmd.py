"""``agentflow approvals``: the approval inbox from the command line.

The same :class:`edge.inbox.Inbox` as the web pages: the reviewer is whoever the API token
(``AGENTFLOW_REVIEWER_TOKEN``, or ``--token-file``) belongs to in the reviewer accounts, and an
answer is the same signed ``approval.granted``/``approval.denied`` v2.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from agentflow.cli.output import console, print_json
from agentflow.composition import topology_deployment
from agentflow.errors import UserError
from agentflow.gate_config import load_gate_policy, load_keyring
from agentflow.settings import Settings, load_settings
from processors.engine.inbox import APPROVALS

if TYPE_CHECKING:
    from edge.inbox import Inbox
    from edge.reviewers import Reviewer

TOKEN_ENV = "AGENTFLOW_REVIEWER_TOKEN"


def _signed_in(token: str | None, token_file: Path | None) -> tuple[Settings, Reviewer, Inbox]:
    from edge.inbox import Inbox, InboxError, PendingApprovals
    from edge.reviewers import AccountsError, load_accounts

    settings = load_settings()
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise UserError(f"--token-file {token_file}: {exc.strerror}") from None
    if not token:
        raise UserError(f"no reviewer token: set {TOKEN_ENV} or give --token-file")
    try:
        accounts = load_accounts(settings.edge.reviewers, settings.edge.reviewers_file)
    except AccountsError as exc:
        raise UserError(str(exc)) from None
    reviewer = accounts.by_token(token)
    if reviewer is None:
        raise UserError("the reviewer token is not in the reviewer accounts")
    keyring = load_keyring(settings.signing, load_gate_policy(settings.gate).revoked_key_ids)
    topic = topology_deployment(settings).changelog(APPROVALS)
    try:
        pending = PendingApprovals(settings.kafka.client_config(), topic, follow=False).start()
        return settings, reviewer, Inbox(pending, keyring)
    except InboxError as exc:
        raise UserError(str(exc)) from None


_TOKEN_OPTIONS = [
    click.option("--token", envvar=TOKEN_ENV, hidden=True),
    click.option(
        "--token-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"A file holding your API token (default: ${TOKEN_ENV}).",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
]


def _with_token(f: Any) -> Any:
    for option in reversed(_TOKEN_OPTIONS):
        f = option(f)
    return f


@click.group("approvals")
def approvals_group() -> None:
    """The approval inbox: list, show, approve and deny as a signed-in reviewer."""


@approvals_group.command("list")
@_with_token
def list_cmd(token: str | None, token_file: Path | None, as_json: bool) -> None:
    """The pending approvals you may decide (your tenants and roles only)."""
    _, reviewer, inbox = _signed_in(token, token_file)
    rows = inbox.visible(reviewer)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No pending approvals for you.")
        return
    table = Table("approval", "tenant", "workflow", "step", "proposal", "asked by")
    for e in rows:
        proposal = ", ".join(f"{k}={v}" for k, v in sorted(e["proposal"].items()))
        table.add_row(e["approval_id"], e["tenant"], e["workflow_id"], e["step"], proposal,
                      ", ".join(e["requested_by"]))  # fmt: skip
    console.print(table)


@approvals_group.command("show")
@click.argument("approval_id")
@_with_token
def show_cmd(approval_id: str, token: str | None, token_file: Path | None, as_json: bool) -> None:
    """One pending approval in full: the proposal, who asked, when, and the timeline."""
    from edge.inbox import InboxError

    _, reviewer, inbox = _signed_in(token, token_file)
    try:
        entry = inbox.show(reviewer, approval_id)
    except InboxError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        print_json(entry)
        return
    console.print(f"{entry['summary']} ({entry['workflow_id']}, tenant {entry['tenant']})")
    for k, v in sorted(entry["proposal"].items()):
        console.print(f"  {k} = {v}", highlight=False)
    console.print(f"asked by {', '.join(entry['requested_by'])}", highlight=False)
    for t in entry.get("timeline", []):
        console.print(f"  {t['trigger']}: {t['from'] or 'start'} -> {t['to']}", highlight=False)


def _decide(approval_id: str, granted: bool, edits: tuple[str, ...], comment: str | None,
            token: str | None, token_file: Path | None, as_json: bool) -> None:  # fmt: skip
    from agentflow.sdk import EventProducer, OutgoingRecord
    from edge.inbox import InboxError

    changes: dict[str, str] = {}
    for edit in edits:
        field, sep, value = edit.partition("=")
        if not sep or not field:
            raise UserError(f"--edit {edit!r}: write field=value")
        changes[field] = value
    settings, reviewer, inbox = _signed_in(token, token_file)
    try:
        decided = inbox.decide(reviewer, approval_id, granted, changes, comment)
    except InboxError as exc:
        raise UserError(str(exc)) from None
    record = OutgoingRecord(decided.key, decided.value, decided.headers,
                            decided.event.event_id, decided.event.workflow_id)  # fmt: skip
    with EventProducer.from_settings(settings) as producer:
        producer.send_record(record)
        [report] = producer.flush()
    if not report.ok:
        raise UserError(f"the answer was not delivered: {report.error}; try again")
    payload = decided.event.payload
    done = {
        "approval_id": approval_id,
        "decision": payload.decision,
        "event_id": decided.event.event_id,
        "changes": [c.model_dump() for c in payload.changes],
    }
    if as_json:
        print_json(done)
    else:
        console.print(f"Sent: {payload.decision} {approval_id} as {reviewer.id}.", highlight=False)


@approvals_group.command("approve")
@click.argument("approval_id")
@click.option("--edit", "edits", multiple=True, metavar="FIELD=VALUE",
              help="Change a field of the proposal before approving (repeatable).")  # fmt: skip
@click.option("--comment", help="A note for the record.")
@_with_token
def approve_cmd(approval_id: str, edits: tuple[str, ...], comment: str | None, token: str | None,
                token_file: Path | None, as_json: bool) -> None:  # fmt: skip
    """Grant APPROVAL_ID (with your edits): the workflow carries out the approved version."""
    _decide(approval_id, True, edits, comment, token, token_file, as_json)


@approvals_group.command("deny")
@click.argument("approval_id")
@click.option("--comment", help="A note for the record.")
@_with_token
def deny_cmd(approval_id: str, comment: str | None, token: str | None, token_file: Path | None,
             as_json: bool) -> None:  # fmt: skip
    """Deny APPROVAL_ID."""
    _decide(approval_id, False, (), comment, token, token_file, as_json)


@approvals_group.command("hash-password")
def hash_password_cmd() -> None:
    """Read a password (from the terminal, or one line of stdin) and print its argon2 hash,
    for a reviewer's ``password_argon2``."""
    from edge.reviewers import hash_password

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
    password = password.rstrip("\n")
    if not password:
        raise UserError("an empty password")
    click.echo(hash_password(password))
