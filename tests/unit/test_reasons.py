"""The reason-code registry: one definition per code, and the README's table agrees with it."""

from __future__ import annotations

import re
from pathlib import Path

from processors import reasons
from processors.events import QUARANTINE_RECORD, decode_record, encode_record
from processors.events.registry import default_registry
from processors.gate import GATE_REASONS
from processors.quarantine import read_quarantine

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_reason_table() -> dict[str, tuple[str, str]]:
    """``code -> (given by, meaning)`` from the README's reason table."""
    text = README.read_text()
    start = text.index("| reason | given by | meaning |")
    rows: dict[str, tuple[str, str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        code, given_by, meaning = (c.strip() for c in line.strip("|").split("|"))
        rows[code.strip("`")] = (given_by, meaning)
    return rows


def test_readme_table_lists_every_reason_with_its_components_and_meaning() -> None:
    expected = {r.code: (", ".join(r.given_by), r.description) for r in reasons.REASONS.values()}
    assert readme_reason_table() == expected


def test_every_component_gives_reasons_and_codes_are_snake_case() -> None:
    assert set(reasons.given_by("gate")) == set(GATE_REASONS)
    assert reasons.given_by("host") == ("processor_error",)
    assert "key_mismatch" in reasons.given_by("gate") and "key_mismatch" in reasons.given_by(
        "engine"
    )
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in reasons.REASONS)
    assert set(reasons.REASONS) >= reasons.DECODE_REASONS


def test_reason_constants_are_defined_nowhere_else() -> None:
    """A reason code is spelled as a string literal only in processors/reasons.py."""
    root = Path(__file__).resolve().parents[2]
    spelled: list[str] = []
    for package in ("processors", "streams", "agentflow", "topics", "workflows"):
        for path in (root / package).rglob("*.py"):
            if path.name == "reasons.py":
                continue
            text = path.read_text()
            spelled += [
                f"{path.relative_to(root)}: {code}"
                for code in reasons.REASONS
                if re.search(rf"[\"']{code}[\"']", text)
            ]
    assert spelled == []


def test_a_version_1_quarantine_record_decodes_with_quarantined_by() -> None:
    v1 = default_registry().record(QUARANTINE_RECORD, 1)
    assert v1 is not None
    body = {
        "original_key": b"wf-1",
        "original_value": b"{}",
        "original_headers": [],
        "original_topic": "agentflow.ingress",
        "original_partition": 0,
        "original_offset": 7,
        "reason": "undecodable",
        "detail": "old",
        "gate_version": "gate/1+policy/demo-1",
        "quarantined_at": 1,
        "event_id": None,
        "tenant": None,
    }
    from processors.events.codec import _write

    old = _write(v1, v1.write, body)
    assert old[2:10] == v1.fingerprint
    decoded = read_quarantine(old)
    assert decoded["quarantined_by"] == "gate/1+policy/demo-1"
    assert "gate_version" not in decoded
    name, _ = decode_record(old)
    assert name == QUARANTINE_RECORD


def test_new_quarantine_records_use_the_latest_schema() -> None:
    latest = default_registry().record(QUARANTINE_RECORD)
    assert latest is not None and latest.version == 2
    value = encode_record(
        QUARANTINE_RECORD,
        {
            "original_key": None,
            "original_value": None,
            "original_headers": [],
            "original_topic": "t",
            "original_partition": 0,
            "original_offset": 0,
            "reason": "processor_error",
            "detail": "",
            "quarantined_by": "host/counter",
            "quarantined_at": 0,
            "event_id": None,
            "tenant": None,
        },
    )
    assert value[2:10] == latest.fingerprint
    assert read_quarantine(value)["quarantined_by"] == "host/counter"
