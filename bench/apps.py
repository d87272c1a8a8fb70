"""What the bench hands its contender subprocesses: ``BENCH_*`` environment variables."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class RunShape(Protocol):
    """What every bench config says about a run's Kafka set-up."""

    @property
    def bootstrap(self) -> str: ...

    @property
    def partitions(self) -> int: ...

    @property
    def commit_interval_ms(self) -> int: ...

    @property
    def batch_size(self) -> int: ...


@dataclass(frozen=True)
class AppEnv:
    bootstrap: str
    input_topic: str
    output_topic: str
    group: str
    state_dir: Path
    partitions: int
    commit_interval_ms: int
    batch_size: int
    guarantee: str
    info_file: Path

    @classmethod
    def for_run(
        cls,
        cfg: RunShape,
        input_topic: str,
        output_topic: str,
        group: str,
        workdir: Path,
        guarantee: str,
    ) -> AppEnv:
        """The environment of one contender run in ``workdir``."""
        return cls(
            bootstrap=cfg.bootstrap,
            input_topic=input_topic,
            output_topic=output_topic,
            group=group,
            state_dir=workdir / "state",
            partitions=cfg.partitions,
            commit_interval_ms=cfg.commit_interval_ms,
            batch_size=cfg.batch_size,
            guarantee=guarantee,
            info_file=workdir / "info.json",
        )

    def to_environ(self) -> dict[str, str]:
        return {
            "BENCH_BOOTSTRAP": self.bootstrap,
            "BENCH_INPUT": self.input_topic,
            "BENCH_OUTPUT": self.output_topic,
            "BENCH_GROUP": self.group,
            "BENCH_STATE_DIR": str(self.state_dir),
            "BENCH_PARTITIONS": str(self.partitions),
            "BENCH_COMMIT_INTERVAL_MS": str(self.commit_interval_ms),
            "BENCH_BATCH_SIZE": str(self.batch_size),
            "BENCH_GUARANTEE": self.guarantee,
            "BENCH_INFO_FILE": str(self.info_file),
        }

    @classmethod
    def from_environ(cls) -> AppEnv:
        e = os.environ
        return cls(
            bootstrap=e["BENCH_BOOTSTRAP"],
            input_topic=e["BENCH_INPUT"],
            output_topic=e["BENCH_OUTPUT"],
            group=e["BENCH_GROUP"],
            state_dir=Path(e["BENCH_STATE_DIR"]),
            partitions=int(e["BENCH_PARTITIONS"]),
            commit_interval_ms=int(e["BENCH_COMMIT_INTERVAL_MS"]),
            batch_size=int(e["BENCH_BATCH_SIZE"]),
            guarantee=e["BENCH_GUARANTEE"],
            info_file=Path(e["BENCH_INFO_FILE"]),
        )

    def write_info(self, info: dict[str, Any]) -> None:
        """Tell the bench what the contender actually runs with (guarantee, store)."""
        tmp = self.info_file.with_name(self.info_file.name + ".tmp")
        tmp.write_text(json.dumps(info, sort_keys=True))
        tmp.replace(self.info_file)


def read_info(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data
