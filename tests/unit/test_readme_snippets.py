"""The README's code that a user copies runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agentflow.testing import sample_events
from processors.events import encode
from workflows import DefinitionRegistry

ROOT = Path(__file__).resolve().parents[2]


def snippet(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- snippet: {name} -->\n```python\n(.*?)```", text, re.S)
    assert found, f"no snippet {name!r} in the README"
    return found.group(1)


def run(name: str) -> dict[str, Any]:
    scope: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(snippet(name), f"README:{name}", "exec"), scope)
    return scope


def test_the_fastavro_consumer_decodes_every_event_we_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)  # the snippet reads avro_schemas/ from the checkout
    decode = run("python-avro-consumer")["decode"]
    for event in sample_events():
        decoded = decode(encode(event))
        assert (decoded["event_id"], decoded["event_type"]) == (event.event_id, event.event_type)


def test_the_workflows_registry_example_loads_with_its_timeouts() -> None:
    registry = run("workflows-registry")["registry"]()
    assert isinstance(registry, DefinitionRegistry)
    assert registry.orphan_timeout_ms == 3_600_000
    [review] = list(registry)
    assert (review.pending_timeout_ms, review.max_attempts) == (1_800_000, 5)


def test_the_schedule_snippet_registers_a_schedule_and_its_workflow() -> None:
    registry = run("schedule")["registry"]
    assert isinstance(registry, DefinitionRegistry)
    [schedule] = registry.schedules
    assert registry.for_start_event(f"schedule.fired:{schedule.name}") is not None
