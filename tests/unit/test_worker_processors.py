"""``agentflow worker --processor``: how module:factory specs become processors."""

from __future__ import annotations

import pytest

from agentflow.composition import load_processors
from agentflow.errors import UserError
from examples.counter import CounterProcessor


def two_counters() -> list[CounterProcessor]:
    return [CounterProcessor(name="a"), CounterProcessor(name="b")]


def test_should_load_a_class_and_spread_a_factory_returning_a_list_in_order() -> None:
    got = load_processors(
        [
            "examples.counter:CounterProcessor",
            f"{__name__}:two_counters",
        ]
    )
    assert [p.name for p in got] == ["counter", "a", "b"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("examples.counter", "wanted module:factory"),
        ("no_such_module_here:thing", "cannot load 'no_such_module_here:thing'"),
        ("examples.counter:Nope", "cannot load 'examples.counter:Nope'"),
    ],
)
def test_should_name_the_bad_spec_when_a_processor_cannot_be_loaded(
    spec: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        load_processors([spec])
