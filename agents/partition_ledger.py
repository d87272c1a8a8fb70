"""The side-effect ledger of one input partition, as a step's toolbox sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from processors.contract import Put
from processors.steps import LEDGER_TABLE
from streams.tables import PartitionState


class PartitionLedger:
    """Reads and writes the ``step_ledger`` table of one partition. A write first opens the
    runner's transaction (``begin``), so it commits with the results and offsets."""

    def __init__(self, state: PartitionState, begin: Callable[[], None]) -> None:
        self._state = state
        self._begin = begin

    def get(self, key: bytes) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._state.get(LEDGER_TABLE, key)
        return value

    def put(self, key: bytes, value: dict[str, Any]) -> None:
        self._begin()
        self._state.apply((Put(LEDGER_TABLE, key, value),))
