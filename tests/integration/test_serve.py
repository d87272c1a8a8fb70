"""``agentflow serve`` on the real broker, through real HTTP: a signed envelope and mapped
GitHub and Stripe webhooks are answered 202 only once they are on the ingress topic, each
exactly once; what the edge can refuse is refused with the gate's reason; a source over its
rate gets 429 with Retry-After; and 2,000 posts from 50 concurrent clients all land once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentflow.sdk import Signer, build_record, event_from_dict
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.readers import read_topic
from tests.integration.workers import Served

pytestmark = pytest.mark.timeout(300)
#: Webhook posts of the load test.
LOAD = 20_000

HELPDESK_SECRET = "dev-secret-helpdesk-1"
GITHUB_SECRET = "gh-webhook-secret"
STRIPE_SECRET = "whsec_test_secret"
KEYS = {
    "helpdesk": {"helpdesk-dev-1": HELPDESK_SECRET},
    "github": {"github-edge-1": "edge-secret-github"},
    "stripe": {"stripe-edge-1": "edge-secret-stripe"},
    "burst": {"burst-edge-1": "edge-secret-burst"},
    "load": {"load-edge-1": "edge-secret-load"},
}
WEBHOOKS = """
[sources.github]
provider = "github"
secret_env = "TEST_GITHUB_SECRET"
tenant = "acme"
select = "{header.X-GitHub-Event}"

[sources.github.events.issues]
event_type = "ticket.created"
event_id = "gh-{header.X-GitHub-Delivery}"
workflow_id = "gh-{body.issue.number}"
actor = { id = "{body.sender.login}", kind = "user", roles = ["customer"] }

[sources.github.events.issues.payload]
ticket_id = "GH-{body.issue.number}"
subject = "{body.issue.title}"
body = "{body.issue.body}"
customer_id = "{body.sender.login}"

[sources.stripe]
provider = "stripe"
secret_env = "TEST_STRIPE_SECRET"
tenant = "globex"

[sources.stripe.events."*"]
event_type = "ticket.created"
event_id = "stripe-{body.id}"
workflow_id = "dispute-{body.data.object.charge}"
actor = { id = "stripe", kind = "service" }

[sources.stripe.events."*".payload]
ticket_id = "{body.data.object.id}"
subject = "Dispute: {body.data.object.reason}"
body = "{body.type}"
customer_id = "{body.data.object.customer}"

[sources.load]
provider = "hmac"
secret_env = "TEST_GITHUB_SECRET"
tenant = "acme"
rate_per_s = 100000
burst = 100000

[sources.load.events."*"]
event_type = "ticket.created"
event_id = "{body.id}"
workflow_id = "{body.workflow}"
actor = { id = "load", kind = "service" }
payload = { ticket_id = "{body.id}", subject = "s", body = "b", customer_id = "c" }

[sources.burst]
provider = "hmac"
secret_env = "TEST_GITHUB_SECRET"
tenant = "acme"
rate_per_s = 0.5
burst = 2

[sources.burst.events."*"]
event_type = "ticket.created"
event_id = "{body.id}"
workflow_id = "{body.id}"
actor = { id = "burst", kind = "service" }
payload = { ticket_id = "{body.id}", subject = "s", body = "b", customer_id = "c" }
"""


@pytest.fixture(scope="module")
def served(
    kafka_bootstrap: str, run_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EngineDeployment, str]]:
    tmp = tmp_path_factory.mktemp("serve")
    dep = EngineDeployment.make(kafka_bootstrap, f"{run_prefix}serve.", tmp / "data", tag="srv")
    hooks = tmp / "webhooks.toml"
    hooks.write_text(WEBHOOKS)
    server = Served({
        "AGENTFLOW_BOOTSTRAP_SERVERS": dep.bootstrap,
        "AGENTFLOW_TOPIC_PREFIX": dep.prefix,
        "AGENTFLOW_SIGNING_KEYS": json.dumps(KEYS),
        "AGENTFLOW_WEBHOOKS_FILE": str(hooks),
        "TEST_GITHUB_SECRET": GITHUB_SECRET,
        "TEST_STRIPE_SECRET": STRIPE_SECRET,
        "AGENTFLOW_EVENTS_RATE_PER_S": "100000",
    }, tmp / "serve.log")  # fmt: skip
    try:
        yield dep, server.start().url
    finally:
        server.stop()
        dep.delete()
    assert GITHUB_SECRET not in server.log()


def _envelope(event_id: str, workflow_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id, "event_type": "ticket.created", "schema_version": 1,
        "occurred_at": int(time.time() * 1000), "source": "helpdesk", "tenant": "acme",
        "actor": {"id": "cust-1", "kind": "user", "roles": ["customer"]},
        "workflow_id": workflow_id,
        "payload": {"ticket_id": "T-1", "subject": "Hi", "body": "Help", "customer_id": "c-1"},
    }  # fmt: skip


def _signed(doc: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    record = build_record(event_from_dict(doc), Signer.from_secret("helpdesk-dev-1",
                          HELPDESK_SECRET, "helpdesk"), content_type="json")  # fmt: skip
    headers = {k: v.decode() for k, v in record.headers if k.startswith("af-")}
    return record.value, headers


def _ingress(dep: EngineDeployment) -> list[Any]:
    return read_topic(dep.bootstrap, dep.ingress)


def test_a_signed_envelope_is_accepted_once_it_is_on_the_topic(
    served: tuple[EngineDeployment, str],
) -> None:
    dep, url = served
    body, headers = _signed(_envelope("srv-e1", "srv-wf-1"))
    answer = httpx.post(f"{url}/v1/events", content=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
    got = answer.json()
    assert (got["accepted"], got["event_id"], got["topic"]) == (True, "srv-e1", dep.ingress)
    [record] = [m for m in _ingress(dep) if m.key == b"srv-wf-1"]
    assert (record.partition, record.offset) == (got["partition"], got["offset"])
    assert record.value == body
    assert dict(record.headers)["af-signature"].decode() == headers["af-signature"]


def test_github_and_stripe_webhooks_are_verified_and_mapped(
    served: tuple[EngineDeployment, str],
) -> None:
    dep, url = served
    issue = json.dumps({"issue": {"number": 42, "title": "Refund please", "body": "twice"},
                        "sender": {"login": "octocat"}}).encode()  # fmt: skip
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), issue, hashlib.sha256).hexdigest()
    github = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-1",
              "X-Hub-Signature-256": signature}  # fmt: skip
    answer = httpx.post(f"{url}/v1/webhooks/github", content=issue, headers=github, timeout=10)
    assert answer.status_code == 202, answer.text
    ping = httpx.post(f"{url}/v1/webhooks/github", content=issue,
                      headers={**github, "X-GitHub-Event": "ping"}, timeout=10)  # fmt: skip
    assert ping.status_code == 200 and ping.json()["ignored"] is True
    charge = {"id": "dp_1", "charge": "ch_9", "reason": "fraudulent", "customer": "cus_3"}
    dispute = json.dumps(
        {"id": "evt_1", "type": "charge.dispute.created", "data": {"object": charge}}
    ).encode()
    stamp = str(int(time.time()))
    v1 = hmac.new(STRIPE_SECRET.encode(), f"{stamp}.".encode() + dispute, hashlib.sha256)
    stripe = {"Stripe-Signature": f"t={stamp},v1={v1.hexdigest()}"}
    answer = httpx.post(f"{url}/v1/webhooks/stripe", content=dispute, headers=stripe, timeout=10)
    assert answer.status_code == 202, answer.text
    by_key = {m.key: m for m in _ingress(dep)}
    ticket = json.loads(by_key[b"gh-42"].value or b"")
    assert (ticket["event_id"], ticket["source"], ticket["tenant"]) == ("gh-d-1", "github", "acme")
    assert ticket["payload"] == {"ticket_id": "GH-42", "subject": "Refund please",
                                 "body": "twice", "customer_id": "octocat"}  # fmt: skip
    headers = dict(by_key[b"gh-42"].headers)
    assert headers["af-key-id"] == b"github-edge-1"
    assert (
        headers["af-signature"].decode()
        == hmac.new(
            b"edge-secret-github", b"gh-42\n" + (by_key[b"gh-42"].value or b""), hashlib.sha256
        ).hexdigest()
    )
    disputed = json.loads(by_key[b"dispute-ch_9"].value or b"")
    assert (disputed["tenant"], disputed["payload"]["subject"]) == ("globex", "Dispute: fraudulent")


def test_what_the_edge_can_refuse_is_refused_with_the_gates_reason(
    served: tuple[EngineDeployment, str],
) -> None:
    dep, url = served
    before = len(_ingress(dep))
    body, headers = _signed(_envelope("srv-bad", "srv-wf-bad"))
    forged = {**headers, "af-signature": "0" * 64}
    old = str(int(time.time()) - 3600)
    replayed = hmac.new(STRIPE_SECRET.encode(), f"{old}.{{}}".encode(), hashlib.sha256)
    cases = [
        ("/v1/events", body, forged, 401, "signature_invalid"),
        ("/v1/events", body, {}, 401, "signature_missing"),
        ("/v1/events", b"{not json", headers, 400, "undecodable"),
        ("/v1/events", json.dumps({"source": "helpdesk"}).encode(), headers, 400, "missing_key"),
        ("/v1/events", b"x" * 300_000, headers, 413, "too_large"),
        ("/v1/webhooks/nobody", b"{}", {}, 404, "unknown_source"),
        ("/v1/webhooks/github", b"{}", {"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401,
         "signature_invalid"),
        ("/v1/webhooks/stripe", b"{}", {"Stripe-Signature": f"t={old},v1={replayed.hexdigest()}"},
         401, "stale_event"),
    ]  # fmt: skip
    for path, content, sent, status, reason in cases:
        answer = httpx.post(f"{url}{path}", content=content, headers=sent, timeout=10)
        assert (answer.status_code, answer.json()["reason"]) == (status, reason), (
            path,
            answer.text,
        )
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    assert len(_ingress(dep)) == before


def test_a_source_over_its_rate_gets_429_with_retry_after(
    served: tuple[EngineDeployment, str],
) -> None:
    _, url = served
    answers = []
    for n in range(4):
        body = json.dumps({"id": f"burst-{n}-{os.getpid()}"}).encode()
        sig = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
        answers.append(httpx.post(f"{url}/v1/webhooks/burst", content=body,
                                  headers={"X-Signature": sig}, timeout=10))  # fmt: skip
    assert [a.status_code for a in answers] == [202, 202, 429, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert answers[2].json()["reason"] == "rate_limited"


def test_twenty_thousand_webhooks_from_fifty_clients_are_each_on_the_topic_once(
    served: tuple[EngineDeployment, str],
) -> None:
    dep, url = served
    posts = []
    for n in range(LOAD):
        body = json.dumps({"id": f"load-{n}", "workflow": f"load-wf-{n % 500}"}).encode()
        posts.append((body, hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()))
    latencies: list[float] = []
    host, port = url.removeprefix("http://").split(":")

    async def client(share: list[tuple[bytes, str]]) -> list[int]:
        """One keep-alive connection posting its share in turn (a bare HTTP/1.1 client: httpx
        took more CPU than the server, and the figure would have been the client's)."""
        reader, writer = await asyncio.open_connection(host, int(port))
        codes = []
        for body, signature in share:
            started = time.perf_counter()
            head = (
                f"POST /v1/webhooks/load HTTP/1.1\r\nHost: {host}\r\nX-Signature: {signature}"
                f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            answer = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", answer)
            assert length is not None, answer
            await reader.readexactly(int(length.group(1)))
            latencies.append(time.perf_counter() - started)
            codes.append(int(answer.split(b" ", 2)[1]))
        writer.close()
        return codes

    async def post_all() -> list[int]:
        shares = await asyncio.gather(*(client(posts[i::50]) for i in range(50)))
        return [code for share in shares for code in share]

    started = time.monotonic()
    codes = asyncio.run(post_all())
    seconds = time.monotonic() - started
    assert codes.count(202) == LOAD
    ids = [json.loads(m.value or b"")["event_id"] for m in _ingress(dep)
           if (m.key or b"").startswith(b"load-wf-")]  # fmt: skip
    assert sorted(ids) == sorted(f"load-{n}" for n in range(LOAD))  # each once
    latencies.sort()
    p50, p99 = latencies[LOAD // 2] * 1000, latencies[LOAD * 99 // 100] * 1000
    print(f"{LOAD:,} webhooks in {seconds:.1f}s ({LOAD / seconds:,.0f}/s); accept latency "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
