"""Dead letters: input the worker could not decode or validate, kept byte-for-byte.

A dead letter is the original key and value plus headers saying why (`inboxtrail.reason`, a
stable label such as `truncated`; `inboxtrail.field`; `inboxtrail.detail`), where it came from
(`inboxtrail.topic`, `.partition`, `.offset`) and when it was rejected (`inboxtrail.rejected_at`,
RFC 3339 UTC). The worker publishes it and moves on, so a bad record never stalls a partition.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

HEADER_PREFIX = "inboxtrail."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    reason: str
    field: str | None
    detail: str
    topic: str
    partition: int
    offset: int
    rejected_at: str = ""


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    fields = {
        "reason": letter.reason,
        "field": letter.field or "",
        "detail": letter.detail[:1000],
        "topic": letter.topic,
        "partition": str(letter.partition),
        "offset": str(letter.offset),
        "rejected_at": letter.rejected_at or now_rfc3339(),
    }
    return [(HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]


def dead_letter_from_record(key: bytes | None, value: bytes | None, headers) -> DeadLetter:
    """Rebuild a DeadLetter from a DLQ record (the inverse of dead_letter_headers)."""
    found = {name[len(HEADER_PREFIX):]: raw.decode(errors="replace")
             for name, raw in (headers or []) if name.startswith(HEADER_PREFIX)}
    return DeadLetter(key=key, value=value, reason=found.get("reason", "unknown"), field=found.get("field") or None,
                      detail=found.get("detail", ""), topic=found.get("topic", ""),
                      partition=int(found.get("partition", "-1") or -1), offset=int(found.get("offset", "-1") or -1),
                      rejected_at=found.get("rejected_at", ""))


# -- reading and replaying the DLQ (`inboxtrail dlq list|show|replay`) ----------------------
async def read_dead_letters(settings, *, start_offset: int = 0, limit: int | None = None) -> list[tuple[int, DeadLetter]]:
    """(dlq offset, letter) pairs from `start_offset` up to the current end of the DLQ."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        letters: list[tuple[int, DeadLetter]] = []
        partitions = sorted(consumer.partitions_for_topic(settings.dlq_topic) or []) or [0]
        for number in partitions:
            tp = TopicPartition(settings.dlq_topic, number)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            consumer.seek(tp, start_offset)
            position = start_offset
            while position < end and (limit is None or len(letters) < limit):
                batch = await consumer.getmany(tp, timeout_ms=2000, max_records=1000)
                for record in batch.get(tp, []):
                    letters.append((record.offset, dead_letter_from_record(record.key, record.value, record.headers)))
                    position = record.offset + 1
                    if limit is not None and len(letters) >= limit:
                        break
                if not batch:
                    break
        return letters
    finally:
        await consumer.stop()


async def replay_dead_letters(settings, letters: list[tuple[int, DeadLetter]]) -> int:
    """Re-publish the original bytes to the event topic with their original key; a record that is
    still bad comes back to the DLQ with a fresh reason, so replaying is always safe."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for dlq_offset, letter in letters:
            await producer.send_and_wait(settings.events_topic, letter.value, key=letter.key,
                                         headers=[(HEADER_PREFIX + "replayed_from",
                                                   f"{settings.dlq_topic}:{dlq_offset}".encode())])
        return len(letters)
    finally:
        await producer.stop()
