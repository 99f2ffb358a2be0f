"""Local Kafka (KRaft, from Maven Central jars) and ClickHouse server, without Docker.

Everything lives under one state directory (`Settings.state_dir`):

    <state>/kafka/lib        jars resolved by Maven from deploy/kafka/pom.xml
    <state>/kafka/data       log dirs (formatted once with kafka.tools.StorageTool)
    <state>/kafka/logs       broker log
    <state>/clickhouse/...   server data, logs, generated config
    <state>/run/*.pid        processes started by `inboxtrail up`

`up` is idempotent: a service that is already running and healthy is left alone; data
directories are formatted only once, so `down` + `up` never loses data.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from inboxtrail.settings import Settings

DEPLOY_DIR = Path(__file__).resolve().parent


class ServiceError(RuntimeError):
    """Something the user can fix: the message says what is missing or wrong and what to do."""


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    name: str
    version: str
    address: str
    healthy: bool
    pid: int | None
    detail: str = ""


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


class ManagedProcess:
    """A long-running local server with a pid file under <state>/run."""

    name: str

    def __init__(self, settings: Settings):
        self.settings = settings
        self.state = settings.state_dir.resolve()
        self.pid_file = self.state / "run" / f"{self.name}.pid"

    # -- process bookkeeping -------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def _spawn(self, argv: list[str], log_path: Path, cwd: Path | None = None) -> int:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=cwd, start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM, wait for a clean shutdown (Kafka flushes its logs), SIGKILL as last resort."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid):
            _reap(pid)
            time.sleep(0.2)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def wait_healthy(self, timeout: float, log_path: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if self.pid() is None:
                raise ServiceError(f"{self.name} exited during start-up; last lines of {log_path}:\n{_tail(log_path)}")
            time.sleep(0.3)
        raise ServiceError(f"{self.name} did not become healthy within {timeout:.0f} s; see {log_path}:\n{_tail(log_path)}")

    def healthy(self) -> bool:
        raise NotImplementedError


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def _require(tool: str, how: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise ServiceError(f"`{tool}` was not found on PATH. {how}")
    return found


class KafkaService(ManagedProcess):
    name = "kafka"

    @property
    def lib_dir(self) -> Path:
        return self.state / "kafka" / "lib"

    @property
    def log_dir(self) -> Path:
        return self.state / "kafka" / "logs"

    @property
    def data_dir(self) -> Path:
        return self.state / "kafka" / "data"

    @property
    def properties_file(self) -> Path:
        return self.state / "kafka" / "server.properties"

    def version(self) -> str:
        return self.settings.kafka_version

    def ensure_jars(self) -> None:
        marker = self.lib_dir / f".kafka-{self.settings.kafka_version}"
        if marker.exists():
            return
        java_help = "Install a Java 17+ runtime (Debian: apt-get install -y openjdk-17-jre-headless)."
        _require("java", java_help)
        mvn = _require("mvn", "Install Maven (Debian: apt-get install -y maven); it resolves the Kafka jars from Maven Central.")
        if self.lib_dir.exists():
            shutil.rmtree(self.lib_dir)
        print(f"resolving Apache Kafka {self.settings.kafka_version} jars from Maven Central …", file=sys.stderr, flush=True)
        cmd = [mvn, "-q", "-B", "-f", str(DEPLOY_DIR / "kafka" / "pom.xml"), "dependency:copy-dependencies",
               f"-DoutputDirectory={self.lib_dir}", "-DincludeScope=runtime",
               f"-Dkafka.version={self.settings.kafka_version}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError("Maven could not resolve the Kafka jars (is Maven Central reachable?):\n"
                               + (result.stdout + result.stderr)[-3000:])
        marker.write_text(self.settings.kafka_version)

    def _java_cmd(self, main_class: str, *args: str, heap: str | None = None) -> list[str]:
        cmd = ["java", "-cp", str(self.lib_dir / "*"),
               f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'kafka' / 'log4j2.xml'}",
               f"-Dkafka.logs.dir={self.log_dir}"]
        if heap:
            cmd += [f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
        return cmd + [main_class, *args]

    def write_properties(self) -> None:
        s = self.settings
        host, port, cport = s.kafka_host, s.kafka_port, s.kafka_controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{cport}",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # topics are created by `inboxtrail migrate` with explicit partition counts: a
            # broker-created single-partition topic would break Faust's co-partitioning
            "auto.create.topics.enable": "false",
            "num.partitions": str(s.partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "-1",
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        self.properties_file.parent.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def format_storage(self) -> None:
        if (self.data_dir / "meta.properties").exists():
            return  # formatted before: never reformat, that would orphan the data
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = _kafka_cluster_id()
        # `--cluster-id=ID`, not `-t ID`: a base64url id starts with "-" one time in 64, and the tool's
        # argument parser then takes it for an option ("expected one argument")
        cmd = self._java_cmd("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c",
                             str(self.properties_file))
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError("formatting Kafka storage failed:\n" + (result.stdout + result.stderr)[-3000:])

    def start(self) -> str:
        if self.pid() is not None:
            return "already running"
        if _port_open(self.settings.kafka_host, self.settings.kafka_port):
            raise ServiceError(f"port {self.settings.kafka_bootstrap} is taken by another process; stop it or set "
                               "INBOXTRAIL_KAFKA_BOOTSTRAP to a free address")
        self.ensure_jars()
        self.write_properties()
        self.format_storage()
        log = self.log_dir / "stdout.log"
        self._spawn(self._java_cmd("kafka.Kafka", str(self.properties_file), heap=self.settings.kafka_heap), log)
        self.wait_healthy(120, self.log_dir / "server.log")
        return "started"

    def healthy(self) -> bool:
        return _port_open(self.settings.kafka_host, self.settings.kafka_port) and _kafka_metadata_ok(self.settings)

    def status(self) -> ServiceStatus:
        pid = self.pid()
        healthy = self.healthy()
        detail = "" if healthy else ("not running" if pid is None else "starting or unhealthy")
        return ServiceStatus("kafka", f"Apache Kafka {self.version()} (KRaft)", self.settings.kafka_bootstrap,
                             healthy, pid, detail)


def _kafka_cluster_id() -> str:
    """A random base64url 22-char id, the format `kafka-storage random-uuid` prints."""
    import base64
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _kafka_metadata_ok(settings: Settings) -> bool:
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    try:
        return asyncio.run(probe())
    except Exception:
        return False


class ClickHouseService(ManagedProcess):
    name = "clickhouse"

    @property
    def root(self) -> Path:
        return self.state / "clickhouse"

    @property
    def log_path(self) -> Path:
        return self.root / "log" / "clickhouse-server.err.log"

    def binary(self) -> str:
        return _require("clickhouse-server", "Install it (Debian: apt-get update && apt-get install -y "
                        "clickhouse-server clickhouse-client), or point INBOXTRAIL_CLICKHOUSE_HOST/PORT at a "
                        "running server, or use the embedded store (INBOXTRAIL_STORE=chdb).")

    def write_config(self) -> Path:
        template = string.Template((DEPLOY_DIR / "clickhouse" / "config.xml").read_text())
        config = template.substitute(state=str(self.state), tcp_port=self.settings.clickhouse_port,
                                     http_port=self.settings.clickhouse_http_port,
                                     users_config=str(DEPLOY_DIR / "clickhouse" / "users.xml"))
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        path = self.root / "config.xml"
        path.write_text(config)
        return path

    def start(self) -> str:
        if self.pid() is not None:
            return "already running"
        if _port_open(self.settings.clickhouse_host, self.settings.clickhouse_port):
            raise ServiceError(f"port {self.settings.clickhouse_port} is taken by another process; stop it or set "
                               "INBOXTRAIL_CLICKHOUSE_PORT to a free port")
        binary = self.binary()
        config = self.write_config()
        self._spawn([binary, f"--config-file={config}"], self.root / "log" / "stdout.log", cwd=self.root)
        self.wait_healthy(60, self.log_path)
        return "started"

    def _client(self):
        from clickhouse_driver import Client
        s = self.settings
        return Client(host=s.clickhouse_host, port=s.clickhouse_port, user=s.clickhouse_user,
                      password=s.clickhouse_password, connect_timeout=2, send_receive_timeout=5)

    def server_version(self) -> str | None:
        try:
            return self._client().execute("SELECT version()")[0][0]
        except Exception:
            return None

    def healthy(self) -> bool:
        return self.server_version() is not None

    def status(self) -> ServiceStatus:
        version = self.server_version()
        pid = self.pid()
        detail = "" if version else ("not running" if pid is None else "starting or unhealthy")
        return ServiceStatus("clickhouse", f"ClickHouse server {version or '?'}",
                             f"{self.settings.clickhouse_host}:{self.settings.clickhouse_port}",
                             version is not None, pid, detail)


class WorkerProcess(ManagedProcess):
    """`inboxtrail worker` in the background, as started by `inboxtrail demo`; `down` stops it."""
    name = "worker"

    @property
    def log_path(self) -> Path:
        return self.state / "worker.log"

    def start(self) -> str:
        if self.pid() is not None:
            return "already running"
        self._spawn([sys.executable, "-m", "inboxtrail.cli", "worker"], self.log_path)
        return "started"

    def healthy(self) -> bool:
        return self.pid() is not None


def services(settings: Settings) -> list[ManagedProcess]:
    """The services `up` manages, in start order. With the embedded store there is no server."""
    managed: list[ManagedProcess] = [KafkaService(settings)]
    if settings.store == "clickhouse":
        managed.append(ClickHouseService(settings))
    return managed


def up(settings: Settings, report=print) -> None:
    for service in services(settings):
        started = time.monotonic()
        outcome = service.start()
        report(f"{service.name:<11} {outcome} ({time.monotonic() - started:.1f} s)")


def down(settings: Settings, report=print) -> None:
    """Stop everything `up`/`demo` started from this state directory, whatever the store setting
    is now (a server started under INBOXTRAIL_STORE=clickhouse is stopped under chdb too)."""
    for service in (WorkerProcess(settings), ClickHouseService(settings), KafkaService(settings)):
        stopped = service.stop()
        report(f"{service.name:<11} {'stopped' if stopped else 'not running'}")


def status(settings: Settings) -> list[ServiceStatus]:
    return [service.status() for service in services(settings)]
