"""processors.events stays pure: no Kafka/faust/RocksDB, no clock, no randomness, no env."""

from __future__ import annotations

import ast
from pathlib import Path

import processors.events

PACKAGE = Path(processors.events.__file__).parent
FORBIDDEN_MODULES = {"confluent_kafka", "faust", "rocksdict", "time", "uuid", "random", "os"}
FORBIDDEN_ATTRIBUTES = {"now", "utcnow", "today", "getenv", "environ", "uuid4", "monotonic"}


def test_no_impure_imports_or_calls() -> None:
    problems = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                roots = set()
            problems += [f"{path.name}: imports {r}" for r in roots & FORBIDDEN_MODULES]
            if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
                problems.append(f"{path.name}:{node.lineno}: uses .{node.attr}")
    assert problems == []


def test_public_api_is_explicit() -> None:
    exported = set(processors.events.__all__)
    assert len(exported) == len(processors.events.__all__)
    assert all(hasattr(processors.events, name) for name in exported)
