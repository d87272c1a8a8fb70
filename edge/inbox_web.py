"""The approval inbox's web pages: sign in, the pending approvals, one approval, a decision.

Server-rendered HTML (no script needed). Sessions are signed cookies (``SameSite=Strict``,
HTTP-only); every form carries the session's CSRF token, compared in constant time. The
reviewer a decision names is the signed-in one, never a form field.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from edge.inbox import Decided, Inbox, InboxError
from edge.reviewers import Accounts, Reviewer

Publish = Callable[[Decided], Awaitable[None]]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;
text-align:left;vertical-align:top}th{background:#f4f4f4}.note{background:#eef6ee;padding:.6rem}
.err{background:#fbeaea;padding:.6rem}input[type=text]{width:14rem}header{display:flex;
justify-content:space-between;align-items:center}button{margin-right:.6rem}
"""


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _page(title: str, body: str, reviewer: Reviewer | None = None, status: int = 200,
          csrf: str = "") -> HTMLResponse:  # fmt: skip
    who = ""
    if reviewer is not None:
        who = (f'<form method="post" action="/logout"><span id="reviewer">{escape(reviewer.name)}'
               f'</span> <input type="hidden" name="csrf" value="{escape(csrf)}">'
               '<button type="submit">Sign out</button></form>')  # fmt: skip
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><header><h1>{escape(title)}</h1>{who}</header>"
            f"{body}</body></html>")  # fmt: skip
    return HTMLResponse(html, status_code=status)


class InboxPages:
    """The routes; see the module docstring."""

    def __init__(self, inbox: Inbox, accounts: Accounts, publish: Publish) -> None:
        self.inbox = inbox
        self.accounts = accounts
        self.publish = publish

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/inbox", self.listing, methods=["GET"]),
            Route("/inbox/{approval_id}", self.detail, methods=["GET"]),
            Route("/inbox/{approval_id}", self.decide, methods=["POST"]),
        ]

    @staticmethod
    def _csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    def _checked(self, request: Request, form: Any) -> bool:
        sent = form.get("csrf")
        kept = request.session.get("csrf")
        return isinstance(sent, str) and isinstance(kept, str) and \
            hmac.compare_digest(sent.encode(), kept.encode())  # fmt: skip

    def _reviewer(self, request: Request) -> Reviewer | None:
        rid = request.session.get("reviewer")
        return self.accounts.reviewers.get(rid) if isinstance(rid, str) else None

    async def login_form(self, request: Request, error: str = "", status: int = 200) -> Response:
        note = f'<p class="err">{escape(error)}</p>' if error else ""
        body = (f'{note}<form method="post" action="/login"><p><label>Reviewer id '
                '<input type="text" name="reviewer" autocomplete="username"></label></p>'
                '<p><label>Password <input type="password" name="password" '
                'autocomplete="current-password"></label></p>'
                f'<input type="hidden" name="csrf" value="{escape(self._csrf(request))}">'
                '<button type="submit" id="sign-in">Sign in</button></form>')  # fmt: skip
        return _page("Sign in to the approval inbox", body, status=status)

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        if not self._checked(request, form):
            return await self.login_form(request, "The form expired: sign in again.", 403)
        reviewer = self.accounts.login(str(form.get("reviewer", "")), str(form.get("password", "")))
        if reviewer is None:
            return await self.login_form(request, "Wrong reviewer id or password.", 401)
        request.session.clear()
        request.session["reviewer"] = reviewer.id
        request.session["csrf"] = secrets.token_urlsafe(32)  # a new session, a new token
        return RedirectResponse("/inbox", status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await _form(request)
        if self._checked(request, form):
            request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def listing(self, request: Request) -> Response:
        reviewer = self._reviewer(request)
        if reviewer is None:
            return RedirectResponse("/login", status_code=303)
        sent = request.query_params.get("sent")
        note = f'<p class="note" id="sent">Your answer to {escape(sent)} was sent.</p>' \
            if sent else ""  # fmt: skip
        rows = "".join(
            f'<tr class="approval"><td><a href="/inbox/{escape(e["approval_id"])}">'
            f"{escape(e['summary'] or e['step'])}</a></td><td>{escape(e['tenant'])}</td>"
            f"<td>{escape(e['workflow_id'])}</td><td>{escape(_proposal_text(e))}</td>"
            f"<td>{_when(e['requested_at'])}</td><td>{_when(e.get('due_at'))}</td></tr>"
            for e in self.inbox.visible(reviewer)
        )
        table = ("<table><tr><th>Approval</th><th>Tenant</th><th>Workflow</th><th>Proposal</th>"
                 f"<th>Asked</th><th>Due</th></tr>{rows}</table>") if rows else \
            '<p id="empty">No pending approvals for you.</p>'  # fmt: skip
        return _page("Pending approvals", note + table, reviewer, csrf=self._csrf(request))

    async def detail(self, request: Request, error: str = "", status: int = 200) -> Response:
        reviewer = self._reviewer(request)
        if reviewer is None:
            return RedirectResponse("/login", status_code=303)
        try:
            e = self.inbox.show(reviewer, request.path_params["approval_id"])
        except InboxError as exc:
            return _page("Not found", f'<p class="err">{escape(str(exc))}</p>', reviewer,
                         exc.status, self._csrf(request))  # fmt: skip
        fields = "".join(
            f'<tr><th>{escape(k)}</th><td><input type="text" name="field:{escape(k)}" '
            f'id="field-{escape(k)}" value="{escape(v)}"></td></tr>'
            for k, v in sorted(e["proposal"].items())
        )
        timeline = "".join(
            f"<li>{_when(t['at'])}: {escape(t['trigger'])}: {escape(t['from'] or 'start')} "
            f"&rarr; {escape(t['to'])}</li>"
            for t in e.get("timeline", [])
        )
        quorum = f"{len(e['granted_by'])} of {e['quorum']} approvals" if e["quorum"] > 1 else ""
        err = f'<p class="err" id="error">{escape(error)}</p>' if error else ""
        body = (
            f"{err}<p><strong>{escape(e['summary'])}</strong></p><table>"
            f"<tr><th>Workflow</th><td>{escape(e['workflow_id'])} ({escape(e['definition'] or '')}"
            f", tenant {escape(e['tenant'])})</td></tr>"
            f"<tr><th>Asked by</th><td>{escape(', '.join(e['requested_by']))}</td></tr>"
            f"<tr><th>Asked at</th><td>{_when(e['requested_at'])}</td></tr>"
            f"<tr><th>Due</th><td>{_when(e.get('due_at'))}</td></tr>"
            f"<tr><th>Needs role</th><td>{escape(e['required_role'])} {escape(quorum)}</td></tr>"
            "</table><h2>Proposal</h2><form method='post'><table>"
            f"{fields}</table><p><label>Comment <input type='text' name='comment' id='comment'>"
            "</label></p>"
            f"<input type='hidden' name='csrf' value='{escape(self._csrf(request))}'>"
            "<button type='submit' name='decision' value='approve' id='approve'>Approve</button>"
            "<button type='submit' name='decision' value='deny' id='deny'>Deny</button></form>"
            f"<h2>Timeline</h2><ul>{timeline}</ul><p><a href='/inbox'>Back</a></p>"
        )
        return _page(f"Approval {e['step']}", body, reviewer, status, self._csrf(request))

    async def decide(self, request: Request) -> Response:
        reviewer = self._reviewer(request)
        if reviewer is None:
            return RedirectResponse("/login", status_code=303)
        form = await _form(request)
        if not self._checked(request, form):
            return await self.detail(request, "The form expired: reload the page.", 403)
        approval_id = request.path_params["approval_id"]
        edits = {str(k)[len("field:"):]: str(v) for k, v in form.items()
                 if str(k).startswith("field:")}  # fmt: skip
        granted = form.get("decision") == "approve"
        try:
            decided = self.inbox.decide(reviewer, approval_id, granted, edits,
                                        str(form.get("comment") or "") or None)  # fmt: skip
            await self.publish(decided)
        except InboxError as exc:
            return await self.detail(request, str(exc), exc.status)
        return RedirectResponse(f"/inbox?sent={approval_id}", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    """The posted form (``application/x-www-form-urlencoded``, what these pages send)."""
    body = await request.body()
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _proposal_text(entry: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(entry.get("proposal", {}).items()))
