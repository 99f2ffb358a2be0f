"""Publishing events to `mailflow.events`, keyed by network_message_id (per-message order)."""
from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable, TextIO

from aiokafka import AIOKafkaProducer

from inboxtrail.settings import Settings
from schemas.codec import encode
from schemas.events import MailFlowEvent
from schemas.jsonform import event_from_json
from schemas.validation import ValidationError, validate

PROGRESS_EVERY_S = 2.0


@dataclass
class ProduceReport:
    published: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)


def producer_for(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5,
                            max_batch_size=256 * 1024, enable_idempotence=True)


async def publish_events(settings: Settings, events: Iterable[MailFlowEvent]) -> int:
    """Publish every event (acks=all) as fast as the broker takes them; returns how many."""
    return await publish_paced(settings, events)


async def _produce_lines(settings: Settings, lines: BinaryIO, name: str, err: TextIO) -> ProduceReport:
    report = ProduceReport()
    producer = producer_for(settings)
    await producer.start()
    last_progress = time.monotonic()
    pending = []
    try:
        for number, raw_line in enumerate(lines, start=1):
            if not raw_line.strip():
                continue
            try:
                event = validate(event_from_json(json.loads(raw_line.decode("utf-8")), line=number))
            except (ValidationError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
                report.rejected += 1
                kind = ("not UTF-8: " if isinstance(exc, UnicodeDecodeError)
                        else "not valid JSON: " if isinstance(exc, json.JSONDecodeError) else "")
                message = f"{name}:{number}: {kind}{exc}"
                report.problems.append(message)
                print(message, file=err)
                continue
            pending.append(await producer.send(settings.events_topic, encode(event),
                                               key=event.network_message_id.encode()))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                report.published += len(pending)
                pending.clear()
            if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                print(f"… line {number}: {report.published + len(pending)} published, {report.rejected} rejected",
                      file=err, flush=True)
        await asyncio.gather(*pending)
        report.published += len(pending)
    finally:
        await producer.stop()
    return report


def produce_json_lines(settings: Settings, lines: BinaryIO, name: str, out: TextIO = sys.stdout,
                       err: TextIO = sys.stderr) -> ProduceReport:
    """Validate every line, publish the valid ones (acks=all), report the others by line number."""
    report = asyncio.run(_produce_lines(settings, lines, name, err))
    print(f"published {report.published}, rejected {report.rejected} ({settings.events_topic})", file=out)
    return report


ProgressReport = Callable[[int, float], None]


async def publish_paced(settings: Settings, events: Iterable[MailFlowEvent], *, rate: float = 0.0,
                        duration_s: float | None = None, progress: ProgressReport | None = None) -> int:
    """Publish `events` (acks=all) at `rate` events/s, or as fast as the producer takes them when
    `rate` is 0, stopping after `duration_s` seconds if given. `progress(published, elapsed_s)` is
    called every PROGRESS_EVERY_S and once at the end. Returns how many the broker acknowledged.

    Pacing is against the start time, not per event, so a slow moment is caught up afterwards and
    the average rate holds; acknowledgements are awaited at least twice a second, so
    `published` never trails by more than that."""
    producer = producer_for(settings)
    await producer.start()
    started = last_progress = last_ack = time.monotonic()
    published = 0
    pending = []
    try:
        for sent, event in enumerate(events):
            now = time.monotonic()
            elapsed = now - started
            if duration_s is not None and elapsed >= duration_s:
                break
            if rate > 0:
                ahead = sent / rate - elapsed
                if ahead > 0.005:
                    if duration_s is not None and elapsed + ahead >= duration_s:
                        break
                    await asyncio.sleep(ahead)
            pending.append(await producer.send(settings.events_topic, encode(event),
                                               key=event.network_message_id.encode()))
            if len(pending) >= 10_000 or now - last_ack >= 0.5:
                await asyncio.gather(*pending)
                published += len(pending)
                pending.clear()
                last_ack = now
            if progress is not None and now - last_progress >= PROGRESS_EVERY_S:
                last_progress = now
                progress(published, now - started)
        await asyncio.gather(*pending)
        published += len(pending)
    finally:
        await producer.stop()
    if progress is not None:
        progress(published, time.monotonic() - started)
    return published
