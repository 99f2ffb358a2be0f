"""The Kafka topics of inboxtrail, created up front with explicit partition counts.

Broker auto-creation is off: a broker-created single-partition topic would break Faust's
co-partitioning of `mailflow.events` with its tables and with `mailflow.commands` (both are keyed
by network_message_id, so a copy's events and the commands about it meet in one partition).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from inboxtrail.settings import Settings

KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]
    purpose: str


class TopicMismatch(RuntimeError):
    """An existing topic has a different partition count than inboxtrail needs."""


def topic_specs(settings: Settings) -> list[TopicSpec]:
    return [
        TopicSpec(settings.events_topic, settings.partitions, KEEP_FOREVER,
                  "the event log, source of truth for every projection"),
        TopicSpec(settings.dlq_topic, 1, KEEP_FOREVER,
                  "events that could not be decoded or validated, with reason headers"),
        TopicSpec(settings.commands_topic, settings.partitions, KEEP_FOREVER,
                  "remediation requests, co-partitioned with the event log"),
    ]


async def ensure_topics(settings: Settings) -> list[tuple[str, str]]:
    """Create missing topics; verify existing ones. Returns (topic, outcome) pairs."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        specs = topic_specs(settings)
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            await admin.create_topics([
                NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=1, topic_configs=spec.config)
                for spec in missing
            ])
        partitions = await _partition_counts(admin, [spec.name for spec in specs])
        outcomes = []
        for spec in specs:
            if partitions.get(spec.name) != spec.partitions:
                raise TopicMismatch(
                    f"topic {spec.name} has {partitions.get(spec.name)} partitions, inboxtrail is configured for "
                    f"{spec.partitions} (INBOXTRAIL_PARTITIONS); align the setting with the topic")
            outcomes.append((spec.name, "created" if spec in missing else "exists"))
        return outcomes
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 15.0) -> dict[str, int]:
    """Partition count per topic; a just-created topic may briefly describe with no partitions
    while its metadata propagates, so ask again until every topic has some (or time is up)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        partitions = {d["topic"]: len(d["partitions"]) for d in described}
        if all(partitions.get(name) for name in names) or asyncio.get_running_loop().time() > deadline:
            return partitions
        await asyncio.sleep(0.2)


def ensure_topics_sync(settings: Settings) -> list[tuple[str, str]]:
    return asyncio.run(ensure_topics(settings))


async def partition_count(settings: Settings, topic: str) -> int:
    """Partitions of `topic` (0 if it does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        return (await _partition_counts(admin, [topic], timeout_s=0)).get(topic, 0)
    finally:
        await admin.close()
