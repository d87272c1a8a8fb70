"""Settings: the README's table lists every setting of every concern, and loading reads the
environment and the settings file only when asked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from agentflow import settings as agentflow_settings
from agentflow.settings import Settings, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_variables() -> set[str]:
    text = README.read_text()
    table = text[text.index("| concern | variable | default | |") :]
    rows = table.split("\n\n", 1)[0].splitlines()[2:]
    return {re.findall(r"`(AGENTFLOW_[A-Z_]+)`", row)[0] for row in rows}


def model_variables() -> set[str]:
    found: set[str] = set()
    for concern in Settings.__dataclass_fields__.values():
        model = getattr(agentflow_settings, str(concern.type))  # annotations are strings
        assert issubclass(model, BaseSettings), concern
        for name, field in model.model_fields.items():
            if field.validation_alias is None:
                found.add(f"AGENTFLOW_{name.upper()}")
    return found


def test_the_readme_table_lists_every_setting() -> None:
    assert readme_variables() == model_variables()


def test_settings_are_read_when_loaded_from_the_environment_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "agentflow.env"
    env_file.write_text("AGENTFLOW_TOPIC_PREFIX=from-file.\nAGENTFLOW_APP_ID=file-app\n")
    monkeypatch.setenv("AGENTFLOW_SETTINGS_FILE", str(env_file))
    monkeypatch.setenv("AGENTFLOW_APP_ID", "env-app")
    monkeypatch.setenv("AGENTFLOW_PARTITIONS", "8")
    loaded = load_settings()
    assert loaded.deployment.topic_prefix == "from-file."  # the file fills what env lacks
    assert loaded.deployment.app_id == "env-app"  # the environment wins over the file
    assert loaded.deployment.partitions == 8
    monkeypatch.setenv("AGENTFLOW_PARTITIONS", "2")
    assert load_settings().deployment.partitions == 2  # read again on every load


def test_replace_changes_one_concern_and_keeps_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AGENTFLOW_WORKER_ID", raising=False)
    base = Settings.of(kafka={"bootstrap_servers": "b:1"})
    changed = base.replace(host={"worker_id": "w9"})
    assert (changed.host.worker_id, changed.kafka.bootstrap_servers) == ("w9", "b:1")
    assert base.host.worker_id != "w9"


def test_only_the_settings_modules_read_the_environment() -> None:
    root = Path(__file__).resolve().parents[2]
    readers = sorted(
        str(path.relative_to(root))
        for package in ("agentflow", "streams", "processors", "topics", "workflows", "examples")
        for path in (root / package).rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text())
    )
    assert readers == ["agentflow/settings.py"]
