"""The ASGI app of ``agentflow serve`` (see :mod:`edge`)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from edge.inbox import Decided, InboxError
from edge.inbox_web import InboxPages
from edge.metrics import EdgeMetrics, Handler
from edge.providers import check
from edge.publisher import BrokerUnavailable, Publisher
from edge.ratelimit import TokenBucket, retry_after
from edge.webhooks import MappingError, WebhookSource
from processors import reasons
from processors.events import (
    CONTENT_TYPE_JSON,
    HEADER_CONTENT_TYPE,
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    EventError,
    KeyRing,
    decode_json,
)
from streams.tracing import TRACEPARENT, Tracing, traceparent_of

log = logging.getLogger("agentflow.edge")

#: Seconds a client should wait before sending again after a 503.
RETRY_AFTER_UNAVAILABLE_S = 2


@dataclass
class EdgeConfig:
    """What the app needs: the keys (to verify ``/v1/events`` and sign webhooks), the webhook
    sources, and the limits."""

    keyring: KeyRing
    sources: Mapping[str, WebhookSource] = field(default_factory=dict)
    max_body_bytes: int = 1_000_000
    #: The rate of ``/v1/events`` per envelope source (requests/s) and its burst.
    events_rate_per_s: float = 500.0
    events_burst: float = 1000.0
    clock: Callable[[], float] = time.time


def _refuse(status: int, reason: str, detail: str, event_id: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"accepted": False, "reason": reason, "detail": detail}
    if event_id is not None:
        body["event_id"] = event_id
    return JSONResponse(body, status_code=status)


class Edge:
    """The request handlers, over one :class:`Publisher`."""

    def __init__(
        self, config: EdgeConfig, publisher: Publisher, tracing: Tracing | None = None
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.tracing = tracing
        self._buckets: dict[str, TokenBucket] = {}

    def _limited(self, source: str, rate: float, burst: float) -> JSONResponse | None:
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = TokenBucket(rate, burst)
        wait = bucket.take()
        if wait <= 0:
            return None
        response = _refuse(429, "rate_limited", f"source {source!r} is over {rate:g} requests/s")
        response.headers["Retry-After"] = retry_after(wait)
        return response

    async def _body(self, request: Request, limit: int) -> bytes | JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return _refuse(413, reasons.TOO_LARGE, f"the body is over {limit:,} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _refuse(413, reasons.TOO_LARGE, f"the body is over {limit:,} bytes")
        return body

    async def _publish(
        self,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        event_id: str | None,
        request: Request,
    ) -> JSONResponse:
        if self.tracing is None:
            return await self._produce(key, value, headers, event_id)
        # A trace starts here (at the sample ratio), or goes on from the caller's traceparent.
        span = self.tracing.start(f"agentflow.receive {request.url.path}",
                                  [(TRACEPARENT, request.headers.get(TRACEPARENT))],
                                  {"agentflow.event_id": event_id or "",
                                   "agentflow.workflow_id": key.decode("utf-8", "replace")},
                                  kind=SpanKind.SERVER, root=True)  # fmt: skip
        if span is not None:
            headers = [*headers, traceparent_of(span)]
        with self.tracing.current(span):
            return await self._produce(key, value, headers, event_id)

    async def _produce(
        self, key: bytes, value: bytes, headers: list[tuple[str, bytes]], event_id: str | None
    ) -> JSONResponse:
        try:
            partition, offset = await self.publisher.publish(key, value, headers)
        except BrokerUnavailable as exc:
            log.warning("not accepted, the broker is unavailable: %s", exc)
            detail = "the broker did not acknowledge the event; send it again (the same event " \
                "id is harmless)"  # fmt: skip
            response = _refuse(503, "broker_unavailable", detail, event_id)
            response.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE_S)
            return response
        accepted = {"accepted": True, "event_id": event_id, "topic": self.publisher.topic,
                    "partition": partition, "offset": offset}  # fmt: skip
        return JSONResponse(accepted, status_code=202)

    async def events(self, request: Request) -> JSONResponse:
        """``POST /v1/events``: a signed agentflow envelope as JSON."""
        body = await self._body(request, self.config.max_body_bytes)
        if isinstance(body, JSONResponse):
            return body
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _refuse(400, reasons.UNDECODABLE, f"the body is not JSON: {exc}")
        if not isinstance(doc, dict):
            return _refuse(400, reasons.UNDECODABLE, "the body must be a JSON object")
        event_id = doc.get("event_id") if isinstance(doc.get("event_id"), str) else None
        workflow_id, source = doc.get("workflow_id"), doc.get("source")
        if not isinstance(workflow_id, str) or not workflow_id:
            return _refuse(400, reasons.MISSING_KEY, "workflow_id (the record key) is missing",
                           event_id)  # fmt: skip
        if not isinstance(source, str):
            return _refuse(400, reasons.MISSING_FIELD, "source is missing", event_id)
        limited = self._limited(f"events:{source}", self.config.events_rate_per_s,
                                self.config.events_burst)  # fmt: skip
        if limited is not None:
            return limited
        key = workflow_id.encode()
        key_id, signature = (
            request.headers.get(HEADER_KEY_ID),
            request.headers.get(HEADER_SIGNATURE),
        )
        refused = self.config.keyring.verify(source, key_id, key, body, signature)
        if refused is not None:
            return _refuse(401, refused, f"the {HEADER_SIGNATURE} header does not prove source "
                           f"{source!r} signed this body", event_id)  # fmt: skip
        headers = [
            (HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON.encode()),
            (HEADER_KEY_ID, (key_id or "").encode()),
            (HEADER_SIGNATURE, (signature or "").encode()),
        ]
        return await self._publish(key, body, headers, event_id, request)

    async def webhook(self, request: Request) -> JSONResponse:
        """``POST /v1/webhooks/{source}``: a provider's webhook, mapped to an envelope."""
        name = request.path_params["source"]
        source = self.config.sources.get(name)
        if source is None:
            return _refuse(404, reasons.UNKNOWN_SOURCE, f"no webhook source {name!r} is declared")
        limited = self._limited(f"webhook:{name}", source.rate_per_s, source.burst)
        if limited is not None:
            return limited
        body = await self._body(request, source.max_body_bytes)
        if isinstance(body, JSONResponse):
            return body
        now = self.config.clock()
        headers = {k.lower(): v for k, v in request.headers.items()}
        bad = check(source.provider, source.secret.get_secret_value(), headers, body, now,
                    header=source.header, tolerance_s=source.tolerance_s)  # fmt: skip
        if bad is not None:
            return _refuse(401, bad[0], bad[1])
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _refuse(400, reasons.UNDECODABLE, f"the body is not JSON: {exc}")
        now_ms = int(now * 1000)
        try:
            mapping = source.mapping_for(doc, headers, now_ms)
            if mapping is None:
                ignored = "no mapping takes this kind of webhook"
                return JSONResponse({"accepted": False, "ignored": True, "detail": ignored})
            envelope = source.envelope(doc, headers, now_ms, mapping)
        except MappingError as exc:
            return _refuse(422, reasons.MISSING_FIELD, str(exc))
        value = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        event_id = envelope.get("event_id") if isinstance(envelope.get("event_id"), str) else None
        try:
            event = decode_json(value)  # what the gate will check; refused here, with its reason
        except EventError as exc:
            return _refuse(422, exc.reason, exc.detail, event_id)
        key_ids = self.config.keyring.key_ids(name)
        if not key_ids:
            log.error("no signing key for webhook source %r: add one to the signing keys", name)
            return _refuse(500, "no_signing_key", f"the server has no signing key for {name!r}")
        key = event.key
        signed = self.config.keyring.headers(key_ids[0], key, value)
        headers_out = [(HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON.encode()), *signed]
        return await self._publish(key, value, headers_out, event.event_id, request)

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})


def inbox_publisher(
    publisher: Publisher, tracing: Tracing | None = None
) -> Callable[[Decided], Awaitable[None]]:
    """Puts an inbox decision on ingress, or says the broker is unavailable (503). With
    ``tracing``, a decision starts a trace of its own (at the sample ratio): the pending
    approval it answers comes from a table, which keeps no trace context."""

    async def publish(decided: Decided) -> None:
        headers = list(decided.headers)
        span = None
        if tracing is not None:
            event = decided.event
            span = tracing.start(f"agentflow.receive inbox {event.event_type}", None,
                                 {"agentflow.event_id": event.event_id,
                                  "agentflow.workflow_id": event.workflow_id},
                                 kind=SpanKind.SERVER, root=True)  # fmt: skip
        if span is not None:
            headers.append(traceparent_of(span))
        try:
            with tracing.current(span) if tracing is not None else nullcontext():
                await publisher.publish(decided.key, decided.value, headers)
        except BrokerUnavailable as exc:
            raise InboxError(503, f"the answer was not sent, try again: {exc}") from None

    return publish


def build_app(
    config: EdgeConfig,
    publisher: Publisher,
    inbox: InboxPages | None = None,
    session_secret: str | None = None,
    metrics: EdgeMetrics | None = None,
    tracing: Tracing | None = None,
) -> Starlette:
    """The app: ``POST /v1/events``, ``POST /v1/webhooks/{source}``, ``GET /healthz``, with
    ``metrics`` ``GET /metrics``, and with ``inbox`` the approval inbox's pages (``/login``,
    ``/inbox``)."""
    edge = Edge(config, publisher, tracing)
    events: Handler = edge.events
    webhook: Handler = edge.webhook
    if metrics is not None:
        events, webhook = metrics.timed("events", events), metrics.timed("webhook", webhook)
    routes = [
        Route("/v1/events", events, methods=["POST"]),
        Route("/v1/webhooks/{source}", webhook, methods=["POST"]),
        Route("/healthz", edge.health, methods=["GET"]),
    ]
    if metrics is not None:
        routes.append(Route("/metrics", metrics.scrape, methods=["GET"]))
    middleware: list[Middleware] = []
    if inbox is not None:
        routes += inbox.routes()
        routes.append(Route("/", lambda _: RedirectResponse("/inbox", status_code=303)))
        secret = session_secret or secrets.token_urlsafe(32)  # sessions end with the process
        middleware.append(
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="agentflow_inbox",
                max_age=8 * 3600,
                same_site="strict",
            )
        )
    shutdown = [publisher.close] + ([inbox.inbox.pending.close] if inbox is not None else [])
    return Starlette(routes=routes, middleware=middleware, on_shutdown=shutdown)
