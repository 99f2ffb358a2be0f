"""`inboxtrail rebuild --from kafka`: the projections rebuilt from the event topic, offset 0 on.

The topic is the log of record (retention: forever, `streams.topics`). Its end offsets are taken
once at the start, every partition is read from offset 0 up to them, and every record that decodes
and validates goes to `email_events_rebuild` (records that do not were dead letters when the worker
met them, and are skipped and counted here too). Then `projections.rebuild` folds the states from
that table and all three tables are swapped in at once. Refused, with what to do instead, when a
partition no longer starts at offset 0 (retention or deletion removed events the tables hold).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from inboxtrail.settings import Settings
from projections.rebuild import RebuildProgress, fold_log_into_rebuild
from projections.store import ProjectionStore
from schemas.codec import CodecError, decode
from schemas.validation import ValidationError, validate
from streams.topics import partition_count

STALL_TIMEOUT_S = 30.0  # no record for this long before the end offsets: the broker is gone


class LogUnavailable(RuntimeError):
    """The event topic cannot serve a rebuild: missing or truncated, or (`unreachable`) the broker
    cannot be reached or stopped answering mid-read."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True, slots=True)
class LogCopy:
    records: int  # records read from the topic
    events: int  # of which written to email_events_rebuild
    skipped: int  # of which not decodable / not valid (dead letters)


async def copy_log(settings: Settings, write: Callable[[list], None],
                   report: Callable[[RebuildProgress], None], batch: int = 50_000) -> LogCopy:
    """Every record of the event topic from offset 0 to its end offsets at the start → `write`
    (lists of about `batch` events)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    topic = settings.events_topic
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20)
    try:
        await consumer.start()
    except KafkaError as exc:
        raise LogUnavailable(f"kafka: cannot reach {settings.kafka_bootstrap} ({exc}); start it (inboxtrail up) "
                             "or rebuild from the events table (inboxtrail rebuild --from events-table)",
                             unreachable=True) from exc
    try:
        numbers = range(await partition_count(settings, topic))
        if not numbers:
            raise LogUnavailable(f"kafka: topic {topic!r} does not exist at {settings.kafka_bootstrap}; "
                                 "nothing to rebuild from (check INBOXTRAIL_EVENTS_TOPIC)")
        partitions = [TopicPartition(topic, n) for n in numbers]
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        truncated = {tp.partition: offset for tp, offset in starts.items() if offset > 0}
        if truncated:
            where = ", ".join(f"partition {p} starts at offset {o}" for p, o in sorted(truncated.items()))
            raise LogUnavailable(f"kafka: {topic} no longer holds its whole history ({where}); a rebuild from it "
                                 "would drop events the projections hold. Rebuild from the events table instead "
                                 "(inboxtrail rebuild --from events-table)")
        ends = await consumer.end_offsets(partitions)
        total = sum(ends.values())
        remaining = {tp for tp in partitions if ends[tp] > 0}
        for tp in partitions:
            consumer.seek(tp, 0)
        records = skipped = events = 0
        pending: list = []
        last_progress = time.monotonic()
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for tp, batch_records in fetched.items():
                for record in batch_records:
                    if record.offset >= ends[tp]:
                        break  # published after the rebuild started
                    records += 1
                    try:
                        pending.append(validate(decode(record.value or b"")))
                    except (CodecError, ValidationError):
                        skipped += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
            if fetched:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > STALL_TIMEOUT_S:
                raise LogUnavailable(f"kafka: no records from {topic} for {STALL_TIMEOUT_S:.0f} s with "
                                     f"{total - records:,} still to read; is the broker up?", unreachable=True)
            if len(pending) >= batch or (pending and not remaining):
                await asyncio.to_thread(write, pending)
                events += len(pending)
                pending = []
                report(RebuildProgress(records, 0, done=False, stage="log", total=total))
        return LogCopy(records, events, skipped)
    finally:
        await consumer.stop()


def rebuild_from_kafka(settings: Settings, store: ProjectionStore,
                       progress: Callable[[RebuildProgress], None] | None = None,
                       batch: int = 50_000) -> tuple[LogCopy, RebuildProgress]:
    """Copy the event topic into a fresh log table, fold fresh state tables from it, swap all in."""
    report = progress or (lambda _: None)
    store.begin_rebuild(log=True)
    copied = asyncio.run(copy_log(settings, lambda events: store.write_events(events, rebuild=True), report, batch))
    final = fold_log_into_rebuild(store, report, batch, rebuilt_log=True)
    store.finish_rebuild(log=True)
    report(final)
    return copied, final
