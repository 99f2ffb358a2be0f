"""Shared test-session services: one Kafka broker, one ClickHouse server, one worker.

They run from their own state directory and ports (so a developer's `inboxtrail up` is left
alone), are started once per session and reused; every test brings its own tenant and message
ids instead of restarting anything. Unit tests request none of these fixtures and need no services.
Set INBOXTRAIL_TEST_KEEP_SERVICES=1 to leave the services running after the session.
"""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from inboxtrail.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
TEST_STATE = REPO / ".inboxtrail-test"

# INBOXTRAIL_TEST_PORT_OFFSET shifts every port, so two checkouts can test side by side
_OFFSET = int(os.environ.get("INBOXTRAIL_TEST_PORT_OFFSET", "0"))

TEST_ENV = {
    "INBOXTRAIL_STATE_DIR": str(TEST_STATE),
    "INBOXTRAIL_STORE": "clickhouse",
    "INBOXTRAIL_TABLE_STORE": "memory://",
    "INBOXTRAIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{29092 + _OFFSET}",
    "INBOXTRAIL_KAFKA_CONTROLLER_PORT": str(29093 + _OFFSET),
    "INBOXTRAIL_CLICKHOUSE_PORT": str(29000 + _OFFSET),
    "INBOXTRAIL_CLICKHOUSE_HTTP_PORT": str(28123 + _OFFSET),
    "INBOXTRAIL_CLICKHOUSE_DATABASE": "inboxtrail_test",
    "INBOXTRAIL_WORKER_WEB_PORT": str(26066 + _OFFSET),
    "INBOXTRAIL_API_PORT": str(28470 + _OFFSET),
    "INBOXTRAIL_CONSUMER_GROUP": "inboxtrail-test-projections",
    "INBOXTRAIL_BATCH_WINDOW_S": "0.1",
    "INBOXTRAIL_CONSUMER_SESSION_TIMEOUT_S": "6",
}


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXTRAIL_")}
    env.update(TEST_ENV)
    env.update(extra)
    return env


def poll(check, timeout: float = 60.0, interval: float = 0.25, what: str = "condition"):
    """Return check()'s first truthy result; fail the test when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(env=TEST_ENV)


@pytest.fixture(scope="session")
def services(settings):
    """Kafka + ClickHouse server up and migrated, once per session."""
    from deploy import local
    from projections.server_store import ClickHouseServerStore
    from streams.topics import ensure_topics_sync

    already_running = all(s.pid() is not None for s in local.services(settings))
    local.up(settings, report=lambda line: None)
    ensure_topics_sync(settings)
    store = ClickHouseServerStore(settings)
    store.migrate()
    store.close()
    yield settings
    if not already_running and not os.environ.get("INBOXTRAIL_TEST_KEEP_SERVICES"):
        local.down(settings, report=lambda line: None)


def start_worker(log_name: str = "worker.log", **env: str) -> subprocess.Popen:
    """An `inboxtrail worker` subprocess with the test settings plus `env` overrides."""
    with open(TEST_STATE / log_name, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "inboxtrail.cli", "worker"], env=cli_env(**env),
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def stop_worker(proc: subprocess.Popen, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _ephemeral_ports() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return range(low, high + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


_EPHEMERAL = _ephemeral_ports()
# never hand out the session's own fixed ports (taken or not yet)
_PICKED: set[int] = {int(value.rsplit(":", 1)[-1]) for key, value in TEST_ENV.items()
                     if key.endswith(("_PORT", "_BOOTSTRAP"))}


def free_port() -> int:
    """A port free now and *outside* the kernel's ephemeral range: a port the kernel hands out
    (bind to 0) can be taken by any outgoing connection before the server given it binds it — a
    crash test once failed that way ("address already in use" on a worker's web port)."""
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(20000, 32000)
        if port in _EPHEMERAL or port in _PICKED:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PICKED.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range in 500 tries")


def isolated_pipeline_env(name: str, partitions: int = 3) -> dict[str, str]:
    """Settings for a pipeline of its own: own topics, database, consumer group and web port,
    on the session's broker and server (for tests that kill or restart workers)."""
    run = f"{name}_{uuid.uuid4().hex[:8]}"
    return {"INBOXTRAIL_EVENTS_TOPIC": f"{run}.events", "INBOXTRAIL_DLQ_TOPIC": f"{run}.events.dlq",
            "INBOXTRAIL_COMMANDS_TOPIC": f"{run}.commands", "INBOXTRAIL_PARTITIONS": str(partitions),
            "INBOXTRAIL_CLICKHOUSE_DATABASE": run, "INBOXTRAIL_CONSUMER_GROUP": f"{run}-projections",
            "INBOXTRAIL_WORKER_WEB_PORT": str(free_port())}


@pytest.fixture(scope="session")
def worker(services):
    """One `inboxtrail worker` process for the session (its log: <state>/worker.log)."""
    proc = start_worker()
    yield proc
    stop_worker(proc)


@pytest.fixture
def tenant_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(services):
    from projections.server_store import ClickHouseServerStore
    store = ClickHouseServerStore(services)
    yield store
    store.close()


def run_cli(*args: str, input: str | None = None, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inboxtrail.cli", *args], env=cli_env(**env), cwd=REPO,
                          input=input, capture_output=True, text=True, timeout=timeout)
