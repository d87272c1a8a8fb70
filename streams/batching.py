"""How many records the host takes in one batch: capped by count and by processing time.

A batch is processed before the host punctuates (fires due timers), reports its figures and
polls again, so a batch that takes long delays all of those. A count alone cannot bound that
time: a record costs from ~100 µs (a duplicate) to several ms (a record that opens many
steps), and a count of 2,000 is 0.2 s on one workload and 2 s on another. The
:class:`BatchSizer` keeps a moving average of the time per record and sizes the next batch so
that it should take about ``max_seconds``.
"""

from __future__ import annotations

from typing import Final

#: A batch never shrinks below this many records: per-batch costs (a poll, a punctuation)
#: must stay spread over a few records even if one slow record skews the average.
MIN_BATCH: Final = 16
#: Weight of the newest batch in the moving average of seconds per record.
_SMOOTHING: Final = 0.2


class BatchSizer:
    """The next batch's size: at most ``max_records``, and about ``max_seconds`` of work at
    the measured time per record (``max_seconds`` 0: by count alone)."""

    def __init__(self, max_records: int, max_seconds: float) -> None:
        self.max_records = max_records
        self.max_seconds = max_seconds
        self._seconds_per_record = 0.0  # unknown until a batch is observed
        self._size = max_records

    @property
    def size(self) -> int:
        return self._size

    def observe(self, records: int, seconds: float) -> None:
        """A batch of ``records`` took ``seconds`` to process."""
        if records <= 0 or self.max_seconds <= 0:
            return
        per_record = seconds / records
        if self._seconds_per_record == 0.0:
            self._seconds_per_record = per_record
        else:
            self._seconds_per_record += _SMOOTHING * (per_record - self._seconds_per_record)
        fit = int(self.max_seconds / self._seconds_per_record) if self._seconds_per_record else 0
        self._size = max(min(MIN_BATCH, self.max_records), min(self.max_records, fit or 1))
