"""Shared test-session services: one Kafka broker, one ClickHouse server, one worker.

They run from their own state directory and ports (so a developer's `inboxtrail up` is left
alone), are started once per session and reused; every test brings its own tenant and message
ids instead of restarting anything. Unit tests request none of these fixtures and need no services.
Set INBOXTRAIL_TEST_KEEP_SERVICES=1 to leave the services running after the session.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from inboxtrail.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
TEST_STATE = REPO / ".inboxtrail-test"

TEST_ENV = {
    "INBOXTRAIL_STATE_DIR": str(TEST_STATE),
    "INBOXTRAIL_KAFKA_BOOTSTRAP": "127.0.0.1:29092",
    "INBOXTRAIL_KAFKA_CONTROLLER_PORT": "29093",
    "INBOXTRAIL_CLICKHOUSE_PORT": "29000",
    "INBOXTRAIL_CLICKHOUSE_HTTP_PORT": "28123",
    "INBOXTRAIL_CLICKHOUSE_DATABASE": "inboxtrail_test",
    "INBOXTRAIL_WORKER_WEB_PORT": "26066",
    "INBOXTRAIL_API_PORT": "28470",
    "INBOXTRAIL_CONSUMER_GROUP": "inboxtrail-test-projections",
    "INBOXTRAIL_BATCH_WINDOW_S": "0.1",
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


@pytest.fixture(scope="session")
def worker(services):
    """One `inboxtrail worker` process for the session (its log: <state>/worker.log)."""
    log_path = TEST_STATE / "worker.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "inboxtrail.cli", "worker"], env=cli_env(),
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
