"""The edge's pure parts: each provider's signature, the webhook mapping and its file, the
token bucket."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest

import edge.webhooks
from edge.providers import check
from edge.ratelimit import TokenBucket, retry_after
from edge.webhooks import MappingError, WebhookConfigError, load_webhooks, render

SECRET = b"s3cret"
BODY = b'{"a": 1}'


def _hex(message: bytes) -> str:
    return hmac.new(SECRET, message, hashlib.sha256).hexdigest()


def test_github_signatures() -> None:
    good = {"x-hub-signature-256": "sha256=" + _hex(BODY)}
    assert check("github", SECRET, good, BODY, 0) is None
    assert check("github", SECRET, good, BODY + b" ", 0) == (
        "signature_invalid", "x-hub-signature-256 does not match the body",
    )  # fmt: skip
    assert check("github", SECRET, {}, BODY, 0) == (
        "signature_missing", "no x-hub-signature-256 header",
    )  # fmt: skip
    bare = {"x-hub-signature-256": _hex(BODY)}  # GitHub always says sha256=
    assert check("github", SECRET, bare, BODY, 0) is not None


def test_stripe_signatures_and_their_timestamp_tolerance() -> None:
    now = 1_800_000_000
    signed = _hex(f"{now}.".encode() + BODY)
    header = {"stripe-signature": f"t={now},v1=00,v1={signed}"}  # a rotated secret's v1 too
    assert check("stripe", SECRET, header, BODY, now + 299) is None
    late = check("stripe", SECRET, header, BODY, now + 301)
    assert late is not None and late[0] == "stale_event"
    assert check("stripe", SECRET, {"stripe-signature": "v1=" + signed}, BODY, now) == (
        "signature_invalid", "stripe-signature must be t=<seconds>,v1=<hex>",
    )  # fmt: skip
    other = {"stripe-signature": f"t={now - 1},v1={signed}"}  # the stamp is signed too
    assert check("stripe", SECRET, other, BODY, now)[0] == "signature_invalid"  # type: ignore[index]


def test_a_generic_hmac_header_takes_hex_or_sha256_prefix() -> None:
    for value in (_hex(BODY), "sha256=" + _hex(BODY), _hex(BODY).upper()):
        assert check("hmac", SECRET, {"x-sig": value}, BODY, 0, header="X-Sig") is None
    assert check("hmac", SECRET, {"x-signature": _hex(BODY)}, BODY, 0, header="X-Sig") == (
        "signature_missing", "no x-sig header",
    )  # fmt: skip


def test_templates_fill_placeholders_and_keep_a_lone_values_type() -> None:
    context = {"body": {"issue": {"number": 42, "labels": ["bug"]}}, "headers": {"x-id": "d1"},
               "now": 5, "source": "gh", "tenant": "acme"}  # fmt: skip
    assert render("{body.issue.number}", context) == 42
    assert render("gh-{body.issue.number}-{header.X-Id}", context) == "gh-42-d1"
    assert render({"a": ["{body.issue.labels.0}", "{now}"], "b": 7}, context) == {
        "a": ["bug", 5], "b": 7,
    }  # fmt: skip
    with pytest.raises(MappingError, match=r"\{body.issue.title\}: the body has no 'title'"):
        render("{body.issue.title}", context)
    with pytest.raises(MappingError, match="no such header"):
        render("{header.X-Missing}", context)


def test_the_module_docstrings_example_is_a_valid_webhooks_file(tmp_path: Path) -> None:
    doc = edge.webhooks.__doc__ or ""
    text = "\n".join(
        line[4:] for line in doc.split("::", 1)[1].splitlines() if line.startswith("    ")
    )
    path = tmp_path / "webhooks.toml"
    path.write_text(text)
    [source] = load_webhooks(path, {"GITHUB_WEBHOOK_SECRET": "x"}).values()
    assert (source.name, source.provider, source.tenant, source.rate_per_s) == (
        "github", "github", "acme", 50.0,
    )  # fmt: skip
    headers = {"x-github-event": "issues", "x-github-delivery": "d-7"}
    body = {"issue": {"number": 3, "title": "t", "body": "b"}, "sender": {"login": "o"}}
    mapping = source.mapping_for(body, headers, 1)
    assert mapping is not None
    envelope = source.envelope(body, headers, 1, mapping)
    assert envelope["workflow_id"] == "gh-3" and envelope["schema_version"] == 2
    assert envelope["payload"]["ticket_id"] == "GH-3"
    assert source.mapping_for(body, {**headers, "x-github-event": "ping"}, 1) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sources.a]\nprovider = "x"', "provider must be one of github, stripe, hmac"),
        ('[sources.a]\nprovider = "github"\ntenant = "t"\nsecret_env = "NOPE"\n'
         '[sources.a.events."*"]\nevent_type = "ticket.created"', "NOPE is not set"),
        ('[sources.a]\nprovider = "github"\ntenant = "t"\nsecret_env = "S"',
         r"give \[sources.a.events.\*\] mappings"),
        ("[sources.a\n", "is not valid TOML"),
    ],
)  # fmt: skip
def test_a_wrong_webhooks_file_says_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "w.toml"
    path.write_text(text)
    with pytest.raises(WebhookConfigError, match=message):
        load_webhooks(path, {"S": "x"})


def test_a_token_bucket_lets_a_burst_through_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take() == 0.0
    assert retry_after(0.01) == "1" and retry_after(2.2) == "3"
    assert re.fullmatch(r"\d+", retry_after(0.5))


def test_the_readmes_webhooks_file_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    [block] = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    path = tmp_path / "webhooks.toml"
    path.write_text(block)
    [source] = load_webhooks(path, {"GITHUB_WEBHOOK_SECRET": "x"}).values()
    assert source.select == "{header.X-GitHub-Event}" and set(source.events) == {"issues"}


def test_the_proposal_hash_the_producers_guide_spells_out_is_ours() -> None:
    import hashlib
    import json

    from agentflow.sdk import proposal_hash

    proposal = {"currency": "EUR", "amount": "42.00", "note": "café"}
    spelled = hashlib.sha256(
        json.dumps(proposal, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert proposal_hash(proposal) == spelled
    assert (
        'sort_keys=True, separators=(",", ":"), ensure_ascii=False'
        in (Path(__file__).resolve().parents[2] / "docs" / "producers.md").read_text()
    )
