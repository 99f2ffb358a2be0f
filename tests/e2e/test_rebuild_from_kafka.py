"""`inboxtrail rebuild --from kafka`: the log and the state tables rebuilt from the event topic,
offset 0 on, equal the live ones; a topic that lost its head is refused and nothing changes."""
from __future__ import annotations

import asyncio
import random

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from inboxtrail.settings import load_settings
from projections.server_store import ClickHouseServerStore
from streams.publisher import publish_events
from streams.topics import partition_count
from tests.conftest import TEST_ENV, isolated_pipeline_env, poll, run_cli, start_worker, stop_worker
from tests.fold_scenarios import phishing_campaign
from tests.projection_snapshot import by_time_disagreements, snapshot

pytestmark = pytest.mark.services


async def _publish_garbage(settings, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"\x00\x01 not an event", key=b"garbage")
    finally:
        await producer.stop()


async def _delete_head(settings, topic: str) -> int:
    """Delete the first record of a partition that has some (as retention would); its number."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(await partition_count(settings, topic))]
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        victim = next(tp for tp in partitions if ends[tp] > 1)
        await admin.delete_records({victim: RecordsToDelete(before_offset=1)}, timeout_ms=10_000)
        return victim.partition
    finally:
        await admin.close()


def test_rebuild_from_kafka_gives_back_the_log_and_the_states(services, tenant_id):
    env = isolated_pipeline_env("rebuild_kafka", partitions=3)
    settings = load_settings({**TEST_ENV, **env})
    assert run_cli("migrate", **env).returncode == 0
    events, expected = phishing_campaign(tenant_id, seed=31, n_recipients=30)
    stream = list(events) + random.Random(4).sample(list(events), len(events) // 4)
    random.Random(5).shuffle(stream)
    store = ClickHouseServerStore(settings)
    worker = start_worker("rebuild-kafka.log", **env)
    try:
        asyncio.run(publish_events(settings, stream))
        asyncio.run(_publish_garbage(settings, settings.events_topic))
        poll(lambda: sum(s["event_count"] for s in snapshot(store, tenant_id)["states"].values()) == len(events),
             timeout=180, interval=1.0, what="the campaign projected")
    finally:
        assert stop_worker(worker) == 0
    live = snapshot(store, tenant_id)
    assert len(live["states"]) == len(expected)
    assert by_time_disagreements(live) == []

    # the tables are lost; the topic is the log of record
    for table in ("email_events", "email_state", "email_state_by_time"):
        store.client.execute(f"TRUNCATE TABLE {table}")
    assert snapshot(store, tenant_id)["states"] == {}
    result = run_cli("rebuild", "--from", "kafka", timeout=300, **env)
    assert result.returncode == 0, result.stderr
    assert f"{len(stream) + 1} records, {len(stream)} events, 1 skipped" in result.stdout
    assert "copying" in result.stderr and "rebuild done" in result.stderr
    assert snapshot(store, tenant_id) == live
    tables = {name for (name,) in store.client.execute("SHOW TABLES")}
    assert not {t for t in tables if t.endswith(("_rebuild", "_replaced"))}, tables

    # a topic whose head was deleted would give back less than the tables hold: refused
    partition = asyncio.run(_delete_head(settings, settings.events_topic))
    refused = run_cli("rebuild", "--from", "kafka", timeout=120, **env)
    assert refused.returncode == 2, refused.stderr
    assert f"partition {partition} starts at offset 1" in refused.stderr
    assert "--from events-table" in refused.stderr
    assert snapshot(store, tenant_id) == live
    store.drop_database()
    store.close()
