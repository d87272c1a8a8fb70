"""What a worker checks before it starts, and what stops it: every topic its processors may
write to (quarantine included) must exist, and a checkpoint failure that repeats ends it."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from agentflow.broker import DEV_SASL_PASSWORD, DEV_SASL_USER
from tests.integration.hostkit import produce
from tests.integration.workers import run_cli
from topics.admin import ensure_topics
from topics.catalog import TopicSpec

COUNTER = "examples.counter:CounterProcessor"


def _env(bootstrap: str, prefix: str, app_id: str, data_dir: Path) -> dict[str, str]:
    return {
        "AGENTFLOW_BOOTSTRAP_SERVERS": bootstrap,
        "AGENTFLOW_TOPIC_PREFIX": prefix,
        "AGENTFLOW_APP_ID": app_id,
        "AGENTFLOW_DATA_DIR": str(data_dir),
        "AGENTFLOW_WORKER_ID": "w1",
    }


def _roles(prefix: str) -> list[str]:
    return ["--role", f"input={prefix}P-in", "--role", f"output={prefix}P-out"]


def test_topics_ensure_creates_a_custom_processors_topics_and_changelogs(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    app_id = f"ctr{uuid.uuid4().hex[:6]}"
    env = _env(kafka_bootstrap, topic_prefix, app_id, tmp_path)
    done = run_cli(
        "topics", "ensure", "--processor", COUNTER, *_roles(topic_prefix), "--json", env=env
    )
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["created"]) == sorted(
        [
            f"{topic_prefix}P-in",
            f"{topic_prefix}P-out",
            f"{topic_prefix}agentflow.quarantine",
            f"{topic_prefix}{app_id}.counts.changelog",
        ]
    )
    listed = run_cli(
        "topics", "list", "--processor", COUNTER, *_roles(topic_prefix), "--json", env=env
    )
    changelog = next(t for t in json.loads(listed.stdout) if t["role"] == "changelog")
    assert (changelog["cleanup_policy"], changelog["partitions"]) == ("compact", 4)


def test_worker_names_the_missing_quarantine_topic_instead_of_wedging(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Input, output and changelog exist, quarantine does not: before, the worker started,
    then looped on "checkpoint failed" for the first poison record, never naming the topic."""
    app_id = f"ctr{uuid.uuid4().hex[:6]}"
    specs = [
        TopicSpec(f"{topic_prefix}P-in", "input", 4, 1, "delete", -1, "", ""),
        TopicSpec(f"{topic_prefix}P-out", "output", 4, 1, "delete", -1, "", ""),
        TopicSpec(f"{topic_prefix}{app_id}.counts.changelog", "changelog", 4, 1, "compact", -1,
                  "", ""),
    ]  # fmt: skip
    ensure_topics({"bootstrap.servers": kafka_bootstrap}, specs)
    produce(kafka_bootstrap, f"{topic_prefix}P-in", [(b"a", b"boom"), (b"a", b"v")])
    done = run_cli(
        "worker",
        "--processor",
        "tests.integration.procs:PoisonCounter",
        *_roles(topic_prefix),
        env=_env(kafka_bootstrap, topic_prefix, app_id, tmp_path),
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert f"topic '{topic_prefix}agentflow.quarantine' does not exist" in line
    assert "agentflow topics ensure" in line and "--processor" in line
    assert "Traceback" not in done.stderr


def test_worker_refuses_a_kafka_option_its_guarantees_rest_on_with_one_line(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    app_id = f"ctr{uuid.uuid4().hex[:6]}"
    env = _env(kafka_bootstrap, topic_prefix, app_id, tmp_path)
    created = run_cli("topics", "ensure", "--processor", COUNTER, *_roles(topic_prefix), env=env)
    assert created.returncode == 0, created.stderr
    env["AGENTFLOW_KAFKA_OPTIONS"] = json.dumps({"isolation.level": "read_uncommitted"})
    done = run_cli("worker", "--processor", COUNTER, *_roles(topic_prefix), env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "AGENTFLOW_KAFKA_OPTIONS sets 'isolation.level'" in line
    assert "Remove it from AGENTFLOW_KAFKA_OPTIONS" in line
    assert "Traceback" not in done.stderr


def test_worker_stops_with_one_line_when_every_checkpoint_fails(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """An output the broker refuses every time (larger than the topic's max.message.bytes):
    the worker aborts, rewinds and retries, and after five failures in a row it stops."""
    app_id = f"ctr{uuid.uuid4().hex[:6]}"
    env = _env(kafka_bootstrap, topic_prefix, app_id, tmp_path)
    created = run_cli("topics", "ensure", "--processor", COUNTER, *_roles(topic_prefix), env=env)
    assert created.returncode == 0, created.stderr
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    limit = ConfigEntry("max.message.bytes", "1024", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource("topic", f"{topic_prefix}P-out", incremental_configs=[limit])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)
    # Random bytes: the worker's producer compresses (lz4), and must not shrink it below 1 KB.
    produce(kafka_bootstrap, f"{topic_prefix}P-in", [(b"a", os.urandom(4000))])
    done = run_cli("worker", "--processor", COUNTER, *_roles(topic_prefix), env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "5 checkpoints in a row failed" in errors[0]
    assert "Traceback" not in done.stderr


def test_a_refused_sasl_login_is_told_apart_from_an_unreachable_broker(
    kafka_sasl_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    sasl = {
        "AGENTFLOW_BOOTSTRAP_SERVERS": kafka_sasl_bootstrap,
        "AGENTFLOW_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "AGENTFLOW_SASL_MECHANISM": "PLAIN",
        "AGENTFLOW_SASL_USERNAME": DEV_SASL_USER,
        "AGENTFLOW_DATA_DIR": str(tmp_path),
    }
    worker = ["worker", "--processor", COUNTER, *_roles(topic_prefix)]
    wrong = run_cli(*worker, env={**sasl, "AGENTFLOW_SASL_PASSWORD": "wrong"}, timeout=60)
    assert wrong.returncode == 2
    assert f"Kafka at {kafka_sasl_bootstrap} refused the login" in wrong.stderr
    assert "AGENTFLOW_SASL_" in wrong.stderr and "broker up" not in wrong.stderr
    assert "wrong" not in wrong.stderr  # the password is never printed
    right = run_cli(*worker, env={**sasl, "AGENTFLOW_SASL_PASSWORD": DEV_SASL_PASSWORD})
    assert right.returncode == 2  # logged in: what stops it now is the missing topic
    assert f"topic '{topic_prefix}P-in' does not exist" in right.stderr
