"""Outages mid-stream: the ClickHouse server down for 60 s, the Kafka broker restarted.
In both, nothing is lost, the worker recovers on its own, and /readyz reflects the outage.

Each test runs the service it breaks as a private instance (own state directory and port), so
the session's shared services keep serving the other tests."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from deploy.local import ClickHouseService, KafkaService
from inboxtrail.settings import load_settings
from projections.server_store import ClickHouseServerStore
from streams.publisher import publish_events
from tests.conftest import (TEST_ENV, TEST_STATE, free_port, isolated_pipeline_env, poll, run_cli, start_worker,
                            stop_worker)
from tests.fold_scenarios import phishing_campaign

pytestmark = pytest.mark.services

OUTAGE_S = 60


def readiness(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


def projected_count(settings, tenant_id: str) -> int:
    store = ClickHouseServerStore(settings)
    try:
        return store.client.execute("SELECT uniqExact(event_id) FROM email_events WHERE tenant_id = %(t)s",
                                    {"t": tenant_id})[0][0]
    except Exception:
        return -1
    finally:
        store.close()


def states_by_copy(settings, tenant_id: str) -> dict:
    store = ClickHouseServerStore(settings)
    try:
        rows = store.client.execute("SELECT network_message_id, recipient, latest_location, event_count "
                                    "FROM email_state FINAL WHERE tenant_id = %(t)s", {"t": tenant_id})
        return {(tenant_id, nmid, rcpt): (loc, n) for nmid, rcpt, loc, n in rows}
    finally:
        store.close()


def assert_matches_scenario(settings, tenant_id: str, expected: dict) -> None:
    states = states_by_copy(settings, tenant_id)
    assert set(states) == set(expected)
    for key, copy in expected.items():
        assert states[key] == (str(copy.latest_location), copy.timeline_events), key


def test_clickhouse_down_for_a_minute_loses_nothing_and_readyz_reports_it(services, tenant_id):
    env = isolated_pipeline_env("chdown")
    ch_port, ch_http = free_port(), free_port()
    env.update(INBOXTRAIL_CLICKHOUSE_PORT=str(ch_port), INBOXTRAIL_CLICKHOUSE_HTTP_PORT=str(ch_http),
               INBOXTRAIL_STATE_DIR=str(TEST_STATE / f"outage-{ch_port}"))
    settings = load_settings({**TEST_ENV, **env})
    clickhouse = ClickHouseService(settings)
    clickhouse.start()
    worker = None
    try:
        assert run_cli("migrate", **env).returncode == 0
        events, expected = phishing_campaign(tenant_id, seed=3, n_recipients=30)
        half = len(events) // 2
        worker = start_worker("outage-clickhouse.log", **env)
        web = int(env["INBOXTRAIL_WORKER_WEB_PORT"])
        asyncio.run(publish_events(settings, events[:half]))
        poll(lambda: projected_count(settings, tenant_id) == half, timeout=120, what="first half projected")
        assert readiness(web)[0] == 200

        clickhouse.stop()
        asyncio.run(publish_events(settings, events[half:]))
        status, body = poll(lambda: (lambda r: r if r[0] == 503 else None)(readiness(web)), timeout=30,
                            what="/readyz to report the store outage")
        assert body["store"] == "failing"
        time.sleep(OUTAGE_S)
        assert worker.poll() is None, "the worker must ride out the outage"
        assert readiness(web)[0] == 503

        clickhouse.start()
        poll(lambda: projected_count(settings, tenant_id) == len(events), timeout=120,
             what="the rest projected after the outage")
        poll(lambda: readiness(web)[0] == 200, timeout=30, what="/readyz back to ready")
        poll(lambda: len(states_by_copy(settings, tenant_id)) == len(expected), timeout=30, what="all states")
        assert_matches_scenario(settings, tenant_id, expected)
    finally:
        if worker is not None:
            stop_worker(worker)
        clickhouse.stop()


def test_kafka_broker_restart_mid_stream_loses_nothing(services, tenant_id):
    env = isolated_pipeline_env("kafkarestart")
    kafka_port, controller_port = free_port(), free_port()
    env.update(INBOXTRAIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}",
               INBOXTRAIL_KAFKA_CONTROLLER_PORT=str(controller_port),
               INBOXTRAIL_STATE_DIR=str(TEST_STATE / f"outage-{kafka_port}"))
    settings = load_settings({**TEST_ENV, **env})
    kafka = KafkaService(settings)
    kafka.lib_dir.parent.mkdir(parents=True, exist_ok=True)
    shared_lib = KafkaService(load_settings(TEST_ENV)).lib_dir
    if not kafka.lib_dir.exists():
        kafka.lib_dir.symlink_to(shared_lib)  # reuse the session's jars instead of resolving them again
    kafka.start()
    worker = None
    try:
        assert run_cli("migrate", **env).returncode == 0
        events, expected = phishing_campaign(tenant_id, seed=4, n_recipients=30)
        third = len(events) // 3
        worker = start_worker("outage-kafka.log", **env)
        web = int(env["INBOXTRAIL_WORKER_WEB_PORT"])
        asyncio.run(publish_events(settings, events[:third]))
        poll(lambda: projected_count(settings, tenant_id) == third, timeout=120, what="first third projected")

        # a producer keeps publishing through the restart, retrying what the broker refused
        def publish_rest():
            for i in range(third, len(events), 20):
                chunk = events[i:i + 20]
                while True:
                    try:
                        asyncio.run(publish_events(settings, chunk))
                        break
                    except Exception:
                        time.sleep(1.0)
                time.sleep(0.3)
        producer = threading.Thread(target=publish_rest)
        producer.start()
        time.sleep(2.0)
        kafka.stop()
        status, body = poll(lambda: (lambda r: r if r[0] == 503 else None)(readiness(web)), timeout=30,
                            what="/readyz to report the broker outage")
        assert body["broker"] == "unreachable"
        time.sleep(5.0)
        kafka.start()
        producer.join(timeout=300)
        poll(lambda: projected_count(settings, tenant_id) == len({e.event_id for e in events}), timeout=180,
             what="everything projected after the broker restart")
        poll(lambda: readiness(web)[0] == 200, timeout=30, what="/readyz back to ready")
        assert readiness(web)[1]["consumer"] == "consuming"
        assert worker.poll() is None, "the worker must recover without a restart"
        poll(lambda: len(states_by_copy(settings, tenant_id)) == len(expected), timeout=30, what="all states")
        assert_matches_scenario(settings, tenant_id, expected)
    finally:
        if worker is not None:
            stop_worker(worker)
        kafka.stop()
