"""`inboxtrail up` twice, `down`, `up` again: no error and no data lost.

Runs its own pair of services (own state directory and ports) so the session's shared services
are not restarted under other tests."""
from __future__ import annotations

import shutil
import uuid

import pytest
from clickhouse_driver import Client

from deploy import local
from inboxtrail.settings import load_settings
from tests.conftest import REPO, TEST_ENV, free_port, run_cli

pytestmark = pytest.mark.services

KAFKA_PORT, CONTROLLER_PORT, CLICKHOUSE_PORT, CLICKHOUSE_HTTP_PORT = (free_port() for _ in range(4))

LIFECYCLE_ENV = {
    "INBOXTRAIL_STATE_DIR": str(REPO / ".inboxtrail-test-lifecycle"),
    "INBOXTRAIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{KAFKA_PORT}",
    "INBOXTRAIL_KAFKA_CONTROLLER_PORT": str(CONTROLLER_PORT),
    "INBOXTRAIL_CLICKHOUSE_PORT": str(CLICKHOUSE_PORT),
    "INBOXTRAIL_CLICKHOUSE_HTTP_PORT": str(CLICKHOUSE_HTTP_PORT),
    "INBOXTRAIL_CLICKHOUSE_DATABASE": "inboxtrail",
}


def cli(*args):
    return run_cli(*args, timeout=300, **LIFECYCLE_ENV)


@pytest.fixture
def lifecycle_state():
    shutil.rmtree(LIFECYCLE_ENV["INBOXTRAIL_STATE_DIR"], ignore_errors=True)
    yield
    cli("down")
    shutil.rmtree(LIFECYCLE_ENV["INBOXTRAIL_STATE_DIR"], ignore_errors=True)


def count_marker(marker: str) -> int:
    client = Client(host="127.0.0.1", port=CLICKHOUSE_PORT, database="inboxtrail")
    try:
        return client.execute("SELECT count() FROM email_events WHERE network_message_id = %(id)s", {"id": marker})[0][0]
    finally:
        client.disconnect()


def test_up_twice_down_up_keeps_clickhouse_data_and_topics(lifecycle_state):
    first = cli("up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "kafka" in first.stdout and "started" in first.stdout and "healthy" in first.stdout

    again = cli("up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already running") == 2

    migrated = cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "mailflow.events" in migrated.stdout and "created" in migrated.stdout

    marker = str(uuid.uuid4())
    client = Client(host="127.0.0.1", port=CLICKHOUSE_PORT, database="inboxtrail")
    client.execute("INSERT INTO email_events (tenant_id, network_message_id, recipient, occurred_at, "
                   "occurred_at_us, event_id) VALUES", [("lifecycle", marker, "a@b.example", 1_700_000_000,
                                                         1_700_000_000_000_000, str(uuid.uuid4()))])
    client.disconnect()
    assert count_marker(marker) == 1

    down = cli("down")
    assert down.returncode == 0, down.stderr
    status_down = cli("status")
    assert status_down.returncode == 3 and "DOWN" in status_down.stdout

    up_again = cli("up")
    assert up_again.returncode == 0, up_again.stdout + up_again.stderr
    assert count_marker(marker) == 1
    remigrated = cli("migrate")
    assert remigrated.returncode == 0
    assert "created" not in remigrated.stdout and "already applied" in remigrated.stdout

    status = cli("status", "--format", "json")
    assert status.returncode == 0
    assert '"Apache Kafka 4.4.0 (KRaft)"' in status.stdout and "ClickHouse server 18.16" in status.stdout


def test_kafka_storage_is_formatted_even_when_the_random_cluster_id_starts_with_a_dash(services, tmp_path,
                                                                                      monkeypatch):
    """Cluster ids are base64url: one in 64 starts with "-", which Kafka's StorageTool once took for
    an option (a CI run failed on it). The real tool, with the session's jars, and such an id."""
    kafka = local.KafkaService(load_settings(env={**TEST_ENV, "INBOXTRAIL_STATE_DIR": str(tmp_path)}))
    kafka.lib_dir.parent.mkdir(parents=True)
    kafka.lib_dir.symlink_to(services.state_dir.resolve() / "kafka" / "lib")
    kafka.write_properties()
    monkeypatch.setattr(local, "_kafka_cluster_id", lambda: "-dashFirstClusterId0A")
    kafka.format_storage()
    assert "cluster.id=-dashFirstClusterId0A" in (kafka.data_dir / "meta.properties").read_text()
