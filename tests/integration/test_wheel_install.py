"""The built wheel works on its own: installed in a clean venv, outside the checkout, it has
what ``broker up`` and the worker read, and its CLI answers."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*cmd: str | Path, cwd: Path, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_installs_in_a_clean_venv_and_its_cli_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT, cwd=tmp_path)
    [wheel] = dist.glob("agentflow-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    _run(py, "-m", "pip", "install", "-q", "-c", ROOT / "constraints.txt", wheel, cwd=tmp_path)
    away = tmp_path / "elsewhere"  # not the checkout: nothing is imported from the sources
    away.mkdir()

    files = json.loads(
        _run(
            py, "-c",
            "import json, agentflow.broker, avro_schemas, examples.workflows, pathlib; "
            "b = pathlib.Path(agentflow.broker.__file__).parent; "
            "print(json.dumps({'pom': (b / 'pom.xml').is_file(), "
            "'log4j': (b / 'log4j2.properties').is_file(), "
            "'schemas': len(list((avro_schemas.SCHEMA_DIR / 'events').glob('*.avsc'))), "
            "'from': str(b)}))",
            cwd=away,
        )
    )  # fmt: skip
    assert files["pom"] and files["log4j"], files
    shipped = len(list((ROOT / "avro_schemas" / "events").glob("*.avsc")))
    assert files["schemas"] == shipped and str(env_dir) in files["from"], files

    cli = env_dir / "bin" / "agentflow"
    env_state = away / ".state"
    status = json.loads(_run(cli, "broker", "status", "--json", cwd=away))
    assert status["kafka_version"] == "4.1.1" and status["pid"] is None
    assert not env_state.exists() or not any(env_state.iterdir())
    topics = json.loads(_run(cli, "topics", "list", "--json", cwd=away))
    assert [t["role"] for t in topics] == [
        "ingress", "events", "quarantine", "steps", "outputs", "audit", "usage",
        "changelog", "changelog", "changelog", "changelog", "changelog",
    ]  # fmt: skip
    assert {t["name"] for t in topics if t["role"] == "changelog"} == {
        "agentflow.workflows.changelog",
        "agentflow.timers.changelog",
        "agentflow.approvals.changelog",
        "agentflow.step_ledger.changelog",
        "agentflow.schedules.changelog",
    }
