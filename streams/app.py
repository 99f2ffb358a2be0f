"""The Faust application: topics and the projection agent (wiring only).

Delivery guarantee: at-least-once from Kafka + idempotent projections = exactly-once effect.
`take_events` acknowledges a batch after the loop body returns, so the body writes the batch
durably (retrying with capped back-off, never raising) before it returns.
"""
from __future__ import annotations

import asyncio
import logging
import time

import faust

from inboxtrail.settings import Settings
from projections.server_store import ClickHouseServerStore
from streams.dead_letters import DeadLetter, dead_letter_headers
from streams.decoding import decode_batch

log = logging.getLogger("inboxtrail.worker")

PROJECTION = "email_projections"  # one name: agent, metric label


def create_app(settings: Settings, store=None) -> faust.App:
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(settings.state_dir / "faust"),
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        topic_allow_declare=False,  # topics come from `inboxtrail migrate`
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_bind="127.0.0.1",
        web_port=settings.worker_web_port,
        web_in_thread=False,
        autodiscover=False,
        producer_acks=-1,
        broker_commit_every=settings.batch_size,
        broker_commit_interval=1.0,
    )
    events_topic = app.topic(settings.events_topic, key_type=bytes, value_type=bytes,
                             key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
    store = store or ClickHouseServerStore(settings)
    writer = DurableWriter(store)

    @app.agent(events_topic, concurrency=1, name=PROJECTION)
    async def project(stream):
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_window_s):
            messages = [event.message for event in batch]
            decoded, dead = decode_batch(messages)
            for letter in dead:
                await send_dead_letter(app, settings, letter)
            await writer.write(decoded)

    app.inboxtrail_writer = writer  # for readiness reporting
    return app


async def send_dead_letter(app: faust.App, settings: Settings, letter: DeadLetter) -> None:
    """Publish to the DLQ and wait for the broker's ack, so a dead letter is never lost."""
    while True:
        try:
            await app.producer.send_and_wait(settings.dlq_topic, letter.key, letter.value, None, None,
                                             dead_letter_headers(letter))
            return
        except Exception as exc:  # broker unreachable: retrying is safe, the DLQ tolerates duplicates
            log.warning("dead letter not yet published (%s); retrying", exc)
            await asyncio.sleep(1.0)


class DurableWriter:
    """Writes a batch until it is durable; retries with capped exponential back-off, never raises.

    A retry is safe because every projection write is idempotent."""

    def __init__(self, store, first_delay: float = 0.2, max_delay: float = 10.0):
        self.store = store
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.failing_since: float | None = None

    @property
    def ready(self) -> bool:
        return self.failing_since is None

    async def write(self, events) -> None:
        delay = self.first_delay
        while True:
            try:
                await asyncio.to_thread(self.store.write_events, events)
                self.failing_since = None
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                log.warning("write of %d events failed (%s); retrying in %.1f s", len(events), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
