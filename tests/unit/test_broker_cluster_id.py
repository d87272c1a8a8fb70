"""The local broker's KRaft cluster id: never one the storage tool reads as an option."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentflow.broker import manager
from agentflow.broker.manager import BrokerPaths

# 0xF8 as the first byte: base64url of it starts with "-" (index 62).
DASHED = uuid.UUID(bytes=b"\xf8" + b"\x01" * 15)
PLAIN = uuid.UUID(bytes=b"\x10" + b"\x02" * 15)


@pytest.fixture
def uuids(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[uuid.UUID]]:
    queue = [DASHED, DASHED, PLAIN]
    monkeypatch.setattr(uuid, "uuid4", lambda: queue.pop(0))
    yield queue


def test_should_draw_again_when_the_id_would_start_with_a_dash(uuids: list[uuid.UUID]) -> None:
    cluster_id = manager.new_cluster_id()
    assert cluster_id == "EAICAgICAgICAgICAgICAg"
    assert uuids == []  # two dashed draws were thrown away


def test_should_replace_a_stored_id_that_never_formatted(
    tmp_path: Path, uuids: list[uuid.UUID]
) -> None:
    paths = BrokerPaths(state_dir=tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / "cluster.id").write_text("-AECAgICAgICAgICAgICAg\n")
    assert manager._cluster_id(paths) == "EAICAgICAgICAgICAgICAg"
    assert (tmp_path / "cluster.id").read_text() == "EAICAgICAgICAgICAgICAg\n"
    assert manager._cluster_id(paths) == "EAICAgICAgICAgICAgICAg"  # kept from now on
