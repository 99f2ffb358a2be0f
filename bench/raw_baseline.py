"""The raw baseline of `bench/throughput.py`: aiokafka + plain fastavro + batched clickhouse-driver
inserts into `email_events`, no Faust, no fold, no validation, no `email_state`.

    .venv/bin/python bench/raw_baseline.py --bootstrap 127.0.0.1:29092 --topic T --group G \
        --clickhouse-port 29000 --database D

It does strictly less work than an inboxtrail worker (no validation, no per-copy fold, no state
rows, no state table or changelog, no DLQ): it is the floor of "read Avro from Kafka and put the
events in ClickHouse" in Python on this machine. Offsets are committed after each insert, so it is
at-least-once like the worker. Runs until killed.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fastavro  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402
from clickhouse_driver import Client  # noqa: E402

from schemas.catalog import load_catalog  # noqa: E402

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
HEADER = 10  # single-object encoding: C3 01 + 8-byte fingerprint
ADMIN_DESTINATION = {"MoveToJunk": "Junk", "MoveToInbox": "Inbox", "MoveToDeletedItems": "DeletedItems",
                     "SoftDelete": "SoftDeleted", "HardDelete": "Purged"}
COLUMNS = ("tenant_id", "network_message_id", "recipient", "occurred_at", "occurred_at_us", "event_id",
           "source", "type", "action", "result", "to_location", "threat_types", "detection_methods",
           "actor", "request_id", "payload_json")


def describe(kind: str, p: dict) -> tuple:
    """(action, result, to_location, threat_types, detection_methods, actor, request_id), as
    `projections.timeline` derives them."""
    if kind == "OriginalDelivery":
        return p["delivery_action"], "", p["delivery_location"], p["threat_types"], p["detection_methods"], "", ""
    if kind == "ZapMoved":
        return p["zap_type"], p["result"], p["to_location"], p["threat_types"], [], "", ""
    if kind == "AdminAction":
        return p["action"], p["result"], ADMIN_DESTINATION.get(p["action"], ""), [], [], p["actor"], p["request_id"]
    if kind == "QuarantineReleased":
        return "QuarantineRelease", p["result"], p["to_location"], [], [], p["actor"], ""
    if kind == "DynamicDelivery":
        return "DynamicDelivery", p["result"], p["to_location"], [], [], "", ""
    return "Reprocessed", "", "", p["threat_types"], p["detection_methods"], "", ""


def row_of(record: dict) -> tuple:
    name, payload = record["payload"]
    kind = name.rsplit(".", 1)[-1]
    occurred_at = record["occurred_at"]
    micros = (occurred_at - EPOCH) // _MICRO
    action, result, to_location, threats, methods, actor, request_id = describe(kind, payload)
    return (record["tenant_id"], str(record["network_message_id"]), record["recipient"], micros // 1_000_000,
            micros, str(record["event_id"]), record["source"], kind, action, result, to_location, threats,
            methods, actor, request_id, json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str))


async def run(args) -> None:
    schema = fastavro.parse_schema(load_catalog().current.schema)
    client = Client(host="127.0.0.1", port=args.clickhouse_port, database=args.database,
                    settings={"use_numpy": False})
    insert = f"INSERT INTO email_events ({', '.join(COLUMNS)}) VALUES"
    consumer = AIOKafkaConsumer(args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    reader = fastavro.schemaless_reader
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=200, max_records=args.batch_size)
            rows = []
            for records in fetched.values():
                for message in records:
                    record = reader(io.BytesIO(message.value[HEADER:]), schema, None, return_record_name=True)
                    rows.append(row_of(record))
            if rows:
                client.execute(insert, list(zip(*rows)), columnar=True)
                await consumer.commit()
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--clickhouse-port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--batch-size", type=int, default=2000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
