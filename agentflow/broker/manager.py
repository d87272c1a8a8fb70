"""The local broker: Apache Kafka's own jars from Maven Central, KRaft nodes on 127.0.0.1.

One node by default; ``nodes=3`` runs a three-node cluster from the same jars, each node a
combined broker and controller. Node *i* listens on ``port + 3(i - 1)`` (PLAINTEXT), the next
port (its controller) and the one after (SASL_PLAINTEXT), so the default cluster takes
9092-9100. The jars are resolved once with Maven into a cache outside the repository. Data and
logs live in the project-local state directory (``.state/broker`` by default; a cluster's
nodes under ``.state/broker/cluster-3/node-<i>``), so topics survive ``down`` and ``up``.
``down`` stops only the processes this module started, identified by their pid files and
command lines.
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
from dataclasses import dataclass, field, replace
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


#: The sizes of cluster ``up`` runs.
CLUSTER_SIZES = (1, 3)


@dataclass(frozen=True)
class BrokerPaths:
    """Where one node keeps its data, logs and pid, and where it listens.

    ``port`` is the first node's; ``node`` is this one (1-based) of ``nodes``.
    """

    state_dir: Path
    cache_dir: Path
    port: int = 9092
    node: int = 1
    nodes: int = 1

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

    def cluster(self, nodes: int) -> list[BrokerPaths]:
        """The paths of every node of a ``nodes``-node cluster in this state directory."""
        return [replace(self, node=i, nodes=nodes) for i in range(1, nodes + 1)]

    def node_port(self, node: int) -> int:
        return self.port + 3 * (node - 1)

    @property
    def home(self) -> Path:
        """This node's directory: the state directory itself for a one-node broker."""
        if self.nodes == 1:
            return self.state_dir
        return self.state_dir / f"cluster-{self.nodes}" / f"node-{self.node}"

    @property
    def cluster_id_file(self) -> Path:
        base = self.state_dir if self.nodes == 1 else self.state_dir / f"cluster-{self.nodes}"
        return base / "cluster.id"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.node_port(self.node)}"

    @property
    def cluster_bootstrap(self) -> str:
        """Every node's PLAINTEXT address, comma-separated: what clients should be given."""
        return ",".join(f"127.0.0.1:{self.node_port(i)}" for i in range(1, self.nodes + 1))

    @property
    def sasl_bootstrap(self) -> str:
        """The SASL_PLAINTEXT (PLAIN) listener: :data:`DEV_SASL_USER` / ``DEV_SASL_PASSWORD``."""
        return f"127.0.0.1:{self.node_port(self.node) + 2}"

    @property
    def libs(self) -> Path:
        return self.cache_dir / "libs"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    bootstrap: str
    pid: int | None
    kafka_version: str = KAFKA_VERSION
    #: Per node: its id, address, pid and whether it runs.
    nodes: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "running": self.running,
            "bootstrap": self.bootstrap,
            "pid": self.pid,
            "kafka_version": self.kafka_version,
            "nodes": self.nodes,
        }


def bootstrap_address() -> str:
    """Where the configured local broker listens."""
    return BrokerPaths.configured().bootstrap


def _server_properties(paths: BrokerPaths) -> str:
    port = paths.node_port(paths.node)
    voters = ",".join(f"{i}@127.0.0.1:{paths.node_port(i) + 1}" for i in range(1, paths.nodes + 1))
    replicas = min(paths.nodes, 3)
    # With three nodes, internal topics (offsets, transactions) survive one node's loss.
    in_sync = 2 if replicas >= 3 else 1
    return "\n".join(
        [
            f"# Written by `agentflow broker up`: combined broker+controller KRaft node "
            f"{paths.node} of {paths.nodes}.",
            "process.roles=broker,controller",
            f"node.id={paths.node}",
            f"controller.quorum.voters={voters}",
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
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={in_sync}",
            f"offsets.topic.replication.factor={replicas}",
            "offsets.topic.num.partitions=8",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={in_sync}",
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
    id_file = paths.cluster_id_file
    id_file.parent.mkdir(parents=True, exist_ok=True)
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


def _node_status(paths: BrokerPaths) -> dict[str, object]:
    pid = _read_pid(paths)
    running = pid is not None and broker_answers(paths.bootstrap, timeout=3.0)
    return {"node": paths.node, "bootstrap": paths.bootstrap, "pid": pid, "running": running}


def _started_size(paths: BrokerPaths) -> int | None:
    """The size of the cluster this state directory has running (a node of it alive)."""
    for size in CLUSTER_SIZES:
        if any(_read_pid(node) is not None for node in paths.cluster(size)):
            return size
    return None


def status(paths: BrokerPaths | None = None) -> BrokerStatus:
    """The broker (or cluster) this state directory runs; a one-node broker if none runs."""
    paths = paths or BrokerPaths.configured()
    size = _started_size(paths) or 1
    nodes = [_node_status(node) for node in paths.cluster(size)]
    first = paths.cluster(size)[0]
    return BrokerStatus(
        running=all(bool(n["running"]) for n in nodes),
        bootstrap=first.cluster_bootstrap,
        pid=nodes[0]["pid"],  # type: ignore[arg-type]
        nodes=nodes,
    )


def _start_node(paths: BrokerPaths, echo: Callable[[str], None]) -> int:
    """Start one node (formatting its storage the first time); its pid."""
    if broker_answers(paths.bootstrap, timeout=1.0):
        raise BrokerError(
            f"Something else already answers at {paths.bootstrap}. Stop it, or set "
            "AGENTFLOW_BROKER_PORT to another port, or use it with KAFKA_BOOTSTRAP_SERVERS."
        )
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
    return proc.pid


def _cluster_formed(bootstrap: str, nodes: int) -> bool:
    """True when the cluster's metadata lists ``nodes`` brokers."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        return len(admin.list_topics(timeout=1.0).brokers) >= nodes
    except Exception:
        return False


def up(
    paths: BrokerPaths | None = None,
    wait_s: float = 90.0,
    echo: Callable[[str], None] = print,
    nodes: int = 1,
) -> BrokerStatus:
    """Start the broker, or each node of a ``nodes``-node cluster, unless it already runs
    (a node that stopped is started again); wait until every node answers."""
    if nodes not in CLUSTER_SIZES:
        raise BrokerError(f"--nodes must be one of {list(CLUSTER_SIZES)}, not {nodes}")
    paths = paths or BrokerPaths.configured()
    running = _started_size(paths)
    if running is not None and running != nodes:
        raise BrokerError(
            f"a {running}-node broker runs from {paths.state_dir}; stop it first with "
            "`agentflow broker down`"
        )
    members = paths.cluster(nodes)
    pids = {}
    for node in members:
        pid = _read_pid(node)
        pids[node.node] = pid if pid is not None else _start_node(node, echo)
    deadline = time.monotonic() + wait_s
    bootstrap = members[0].cluster_bootstrap
    while time.monotonic() < deadline:
        if all(broker_answers(n.bootstrap, timeout=1.0) for n in members) and (
            nodes == 1 or _cluster_formed(bootstrap, nodes)
        ):
            return status(paths)
        for node in members:
            if not _pid_alive_and_ours(pids[node.node], node):
                raise BrokerError(
                    f"Broker node {node.node} exited during start-up; see "
                    f"{node.logs / 'stdout.log'} and {node.logs / 'server.log'}."
                )
        time.sleep(0.25)
    raise BrokerError(
        f"The broker did not answer at {bootstrap} within {wait_s:.0f}s; "
        f"see {members[0].logs / 'server.log'}."
    )


def down(paths: BrokerPaths | None = None, wait_s: float = 30.0) -> BrokerStatus:
    """Stop every node this state directory started, by its pid; leave any other alone."""
    paths = paths or BrokerPaths.configured()
    size = _started_size(paths) or 1
    members = paths.cluster(size)
    # All at once: stopped one by one, the last node standing would wait out its controlled
    # shutdown for a controller quorum that is gone.
    pids = {node.node: _read_pid(node) for node in members}
    for pid in pids.values():
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    for node in members:
        pid = pids[node.node]
        while pid is not None and time.monotonic() < deadline and _pid_alive_and_ours(pid, node):
            time.sleep(0.2)
        if pid is not None and _pid_alive_and_ours(pid, node):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        node.pid_file.unlink(missing_ok=True)
    stopped: list[dict[str, object]] = [
        {"node": n.node, "bootstrap": n.bootstrap, "pid": None, "running": False} for n in members
    ]
    return BrokerStatus(
        running=False, bootstrap=members[0].cluster_bootstrap, pid=None, nodes=stopped
    )
