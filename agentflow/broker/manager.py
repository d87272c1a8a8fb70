"""The local broker: Apache Kafka's own jars from Maven Central, one KRaft node on 127.0.0.1.

The jars are resolved once with Maven into a cache outside the repository. Data and logs live in
the project-local state directory (``.state/broker`` by default), so topics survive ``down`` and
``up``. ``down`` stops only the process this module started, identified by its pid file and its
command line.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentflow.settings import BrokerSettings, load_settings

KAFKA_VERSION = "4.1.1"
_HERE = Path(__file__).resolve().parent
_MAIN_CLASS = "kafka.Kafka"


#: The local broker's development SASL/PLAIN login (its SASL_PLAINTEXT listener, port + 2).
DEV_SASL_USER = "agentflow"
DEV_SASL_PASSWORD = "agentflow-dev"


class BrokerError(RuntimeError):
    """A user-facing failure: the message names the cause and the fix."""


@dataclass(frozen=True)
class BrokerPaths:
    """Where the broker keeps its jars, data, logs and pid."""

    state_dir: Path
    cache_dir: Path
    port: int = 9092

    @classmethod
    def from_settings(cls, settings: BrokerSettings) -> BrokerPaths:
        return cls(
            state_dir=settings.state_dir.resolve() / "broker",
            cache_dir=settings.cache_root / f"kafka-{KAFKA_VERSION}",
            port=settings.broker_port,
        )

    @classmethod
    def configured(cls) -> BrokerPaths:
        """The paths and port of ``AGENTFLOW_STATE_DIR``, ``_CACHE_DIR``, ``_BROKER_PORT``."""
        return cls.from_settings(load_settings().broker)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        """The SASL_PLAINTEXT (PLAIN) listener: :data:`DEV_SASL_USER` / ``DEV_SASL_PASSWORD``."""
        return f"127.0.0.1:{self.port + 2}"

    @property
    def libs(self) -> Path:
        return self.cache_dir / "libs"

    @property
    def data(self) -> Path:
        return self.state_dir / "data"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    @property
    def config(self) -> Path:
        return self.state_dir / "server.properties"


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    bootstrap: str
    pid: int | None
    kafka_version: str = KAFKA_VERSION

    def as_dict(self) -> dict[str, object]:
        return {
            "running": self.running,
            "bootstrap": self.bootstrap,
            "pid": self.pid,
            "kafka_version": self.kafka_version,
        }


def bootstrap_address() -> str:
    """Where the configured local broker listens."""
    return BrokerPaths.configured().bootstrap


def _server_properties(paths: BrokerPaths) -> str:
    port = paths.port
    return "\n".join(
        [
            "# Written by `agentflow broker up`: one combined broker+controller KRaft node.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{port + 1}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1},"
            f"SASL_PLAINTEXT://127.0.0.1:{port + 2}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port},"
            f"SASL_PLAINTEXT://127.0.0.1:{port + 2}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map="
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            # A SASL/PLAIN listener with one development login, so a SASL client setup can be
            # tried (and is tested) locally. Loopback only; never a production credential.
            "sasl.enabled.mechanisms=PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{DEV_SASL_USER}="{DEV_SASL_PASSWORD}";',
            f"log.dirs={paths.data}",
            "num.partitions=4",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=8",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.cleaner.backoff.ms=5000",
            "",
        ]
    )


def _require_tool(name: str, purpose: str) -> str:
    found = shutil.which(name)
    if not found:
        package = "maven" if name == "mvn" else "openjdk-17-jre-headless"
        raise BrokerError(
            f"`{name}` was not found on PATH; it is needed to {purpose}. "
            f"Install it (Debian: apt-get install {package})."
        )
    return found


def resolve_jars(paths: BrokerPaths, echo: Callable[[str], None] = print) -> Path:
    """Resolve kafka_2.13 and its runtime dependencies with Maven, once."""
    marker = paths.libs / ".complete"
    if marker.exists():
        return paths.libs
    mvn = _require_tool("mvn", "resolve the Kafka jars from Maven Central")
    echo(f"Resolving Apache Kafka {KAFKA_VERSION} jars with Maven into {paths.libs} ...")
    if paths.libs.exists():
        shutil.rmtree(paths.libs)
    paths.libs.mkdir(parents=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(_HERE / "pom.xml"),
        "dependency:copy-dependencies",
        f"-Dkafka.version={KAFKA_VERSION}",
        f"-DoutputDirectory={paths.libs}",
        "-DincludeScope=runtime",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise BrokerError(
            "Maven could not resolve the Kafka jars (is Maven Central reachable?):\n"
            + "\n".join(tail)
        )
    marker.write_text(KAFKA_VERSION + "\n")
    return paths.libs


def _java_cmd(paths: BrokerPaths, main: str, *args: str) -> list[str]:
    java = _require_tool("java", "run the Kafka broker")
    return [
        java,
        "-Xms256m",
        "-Xmx1g",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={_HERE / 'log4j2.properties'}",
        f"-Dagentflow.log.dir={paths.logs}",
        "-cp",
        f"{paths.libs}/*",
        main,
        *args,
    ]


def _format_storage(paths: BrokerPaths) -> None:
    if (paths.data / "meta.properties").exists():
        return
    cluster_id = _cluster_id(paths)
    cmd = _java_cmd(
        paths,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(paths.config),
        "--ignore-formatted",
    )
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BrokerError(f"Formatting KRaft storage failed: {done.stdout}{done.stderr}".strip())


def _cluster_id(paths: BrokerPaths) -> str:
    id_file = paths.state_dir / "cluster.id"
    if id_file.exists():
        stored = id_file.read_text().strip()
        if _usable_cluster_id(stored):
            return stored
    cluster_id = new_cluster_id()
    id_file.write_text(cluster_id + "\n")
    return cluster_id


def new_cluster_id() -> str:
    """16 random bytes, base64url without padding (22 characters), as Kafka makes them.

    Like Kafka's ``Uuid.randomUuid`` it never starts with "-": the storage tool would read
    such an id as an option and refuse to format (1 fresh state directory in 64).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if _usable_cluster_id(cluster_id):
            return cluster_id


def _usable_cluster_id(cluster_id: str) -> bool:
    return len(cluster_id) == 22 and not cluster_id.startswith("-")


def _pid_alive_and_ours(pid: int, paths: BrokerPaths) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _MAIN_CLASS.encode() in cmdline and str(paths.config).encode() in cmdline


def _read_pid(paths: BrokerPaths) -> int | None:
    try:
        pid = int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive_and_ours(pid, paths) else None


def broker_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except Exception:
        return False
    return True


def status(paths: BrokerPaths | None = None) -> BrokerStatus:
    paths = paths or BrokerPaths.configured()
    pid = _read_pid(paths)
    bootstrap = paths.bootstrap
    running = pid is not None and broker_answers(bootstrap, timeout=3.0)
    return BrokerStatus(running=running, bootstrap=bootstrap, pid=pid)


def up(
    paths: BrokerPaths | None = None,
    wait_s: float = 90.0,
    echo: Callable[[str], None] = print,
) -> BrokerStatus:
    """Start the broker unless this state directory's broker already runs; wait until it answers."""
    paths = paths or BrokerPaths.configured()
    existing = _read_pid(paths)
    bootstrap = paths.bootstrap
    if existing is None and broker_answers(bootstrap, timeout=1.0):
        raise BrokerError(
            f"Something else already answers at {bootstrap}. Stop it, or set "
            "AGENTFLOW_BROKER_PORT to another port, or use it with KAFKA_BOOTSTRAP_SERVERS."
        )
    if existing is None:
        resolve_jars(paths, echo=echo)
        for d in (paths.data, paths.logs):
            d.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(_server_properties(paths))
        _format_storage(paths)
        stdout = open(paths.logs / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            _java_cmd(paths, _MAIN_CLASS, str(paths.config)),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        stdout.close()
        paths.pid_file.write_text(f"{proc.pid}\n")
        existing = proc.pid
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if broker_answers(bootstrap, timeout=1.0):
            return BrokerStatus(running=True, bootstrap=bootstrap, pid=existing)
        if not _pid_alive_and_ours(existing, paths):
            raise BrokerError(
                f"The broker exited during start-up; see {paths.logs / 'stdout.log'} "
                f"and {paths.logs / 'server.log'}."
            )
        time.sleep(0.25)
    raise BrokerError(
        f"The broker did not answer at {bootstrap} within {wait_s:.0f}s; "
        f"see {paths.logs / 'server.log'}."
    )


def down(paths: BrokerPaths | None = None, wait_s: float = 30.0) -> BrokerStatus:
    """Stop the broker this state directory started, by its pid; leave any other alone."""
    paths = paths or BrokerPaths.configured()
    pid = _read_pid(paths)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _pid_alive_and_ours(pid, paths):
            time.sleep(0.2)
        if _pid_alive_and_ours(pid, paths):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
    paths.pid_file.unlink(missing_ok=True)
    return BrokerStatus(running=False, bootstrap=paths.bootstrap, pid=None)
