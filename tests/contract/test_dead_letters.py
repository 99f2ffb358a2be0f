"""Malformed input through the real broker: every record of the documented corpus
(`tests/malformed_corpus.py`) lands in mailflow.events.dlq with its reason, its original bytes and
its origin; the valid events around it are projected; the worker never restarts."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from schemas.codec import encode
from streams.dead_letters import read_dead_letters
from tests.conftest import poll, run_cli
from tests.contract.test_pipeline import delivered
from tests.malformed_corpus import CORPUS, EXPECTED_FIELDS

pytestmark = pytest.mark.services


async def publish_raw(settings, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(settings.events_topic, value, key=key)
    finally:
        await producer.stop()


def test_every_malformed_record_is_dead_lettered_with_its_reason_and_valid_neighbours_flow(
        worker, settings, store, tenant_id):
    assert len(CORPUS) >= 30
    # given, on each record's partition, a valid event before and after the malformed one
    run = uuid.uuid4().hex[:8]
    records, valid_ids = [], []
    now = time.time_ns() // 1000
    for name, raw, _reason in CORPUS:
        key = f"dlq-{run}-{name}".encode()
        before = delivered(tenant_id, str(uuid.uuid4()), "before@contoso.com", now)
        after = delivered(tenant_id, str(uuid.uuid4()), "after@contoso.com", now)
        records += [(key, encode(before)), (key, raw), (key, encode(after))]
        valid_ids += [before.network_message_id, after.network_message_id]
    pid_before = worker.pid
    asyncio.run(publish_raw(settings, records))

    # then every malformed record is in the DLQ with the right reason, field and origin
    def ours():
        letters = asyncio.run(read_dead_letters(settings))
        found = {l.key.decode(): (offset, l) for offset, l in letters if l.key and l.key.decode().startswith(f"dlq-{run}-")}
        return found if len(found) == len(CORPUS) else None
    found = poll(ours, timeout=120, interval=1.0, what="all corpus records in the DLQ")
    for name, raw, reason in CORPUS:
        _offset, letter = found[f"dlq-{run}-{name}"]
        assert letter.reason == reason, name
        assert letter.value == raw or (raw == b"" and not letter.value), name
        if name in EXPECTED_FIELDS:
            assert letter.field == EXPECTED_FIELDS[name], name
        assert letter.topic == settings.events_topic and letter.partition >= 0 and letter.offset >= 0
        assert letter.rejected_at.endswith("Z")

    # and every valid neighbour was projected, by the same worker process
    def projected():
        return all(store.timeline(nmid, tenant_id) for nmid in valid_ids)
    poll(projected, timeout=90, what="valid neighbours projected")
    assert worker.poll() is None and worker.pid == pid_before


def test_dlq_cli_lists_shows_and_replays_a_dead_letter(worker, settings, store, tenant_id):
    # given a dead letter whose bytes are a valid event wrapped in garbage, and a fixed record
    good = delivered(tenant_id, str(uuid.uuid4()), "replay@contoso.com", time.time_ns() // 1000)
    key = f"replay-{uuid.uuid4().hex}".encode()
    asyncio.run(publish_raw(settings, [(key, b"junk" + encode(good))]))

    def listed():
        result = run_cli("dlq", "list", "--format", "json")
        rows = [r for r in json.loads(result.stdout) if r["key"] == key.decode()] if result.returncode == 0 else []
        return rows or None
    (row,) = poll(listed, timeout=90, interval=1.0, what="the dead letter to be listed")
    assert row["reason"] == "bad_magic" and row["source"].startswith(settings.events_topic)

    shown = run_cli("dlq", "show", str(row["dlq_offset"]))
    assert shown.returncode == 0 and "bad_magic" in shown.stdout and (b"junk").hex() in shown.stdout

    # when an operator replays it, it is rejected again (still bad) and nothing is lost
    replayed = run_cli("dlq", "replay", "--offset", str(row["dlq_offset"]))
    assert replayed.returncode == 0 and "replayed 1" in replayed.stdout
    poll(lambda: len(listed()) == 2, timeout=90, interval=1.0, what="the replayed record back in the DLQ")

    nothing = run_cli("dlq", "replay")
    assert nothing.returncode == 1 and "nothing to replay" in nothing.stderr
