"""What the step runner has done, as ``agentflow steps run --json`` prints it on stop."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RunnerFigures:
    """What the runner has done since it started (``agentflow steps run --json`` prints it)."""

    received: int = 0
    completed: int = 0
    failed: int = 0
    skipped_done: int = 0
    quarantined: int = 0
    commits: int = 0
    aborts: int = 0
    pauses: int = 0
    max_buffered_seen: int = 0
    #: The process's peak resident memory, in MiB (filled in when the runner stops).
    peak_rss_mib: int = 0

    def answered(self, completed: bool) -> None:
        """Count one answer, ``step.completed`` or ``step.failed``."""
        if completed:
            self.completed += 1
        else:
            self.failed += 1
