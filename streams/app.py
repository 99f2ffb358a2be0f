"""The Faust application: topics, the per-copy state table and the projection agent (wiring only).

Delivery guarantee — at-least-once from Kafka + idempotent projections = exactly-once effect.
For every batch, in this order:

1. decode; undecodable/invalid records go to the DLQ (awaited, so a dead letter is never lost);
2. fold each copy's events onto its state from the `copy_state` table (`projections.state_rows.
   fold_batch`), noting every state a copy leaves on the time axis (tombstoned in the by-time table);
3. write events and states to the store, retrying with capped back-off until durable — the
   write never raises out of the loop (Faust would acknowledge the batch if the agent raised);
4. put the new states in the table and flush the producer, so the changelog holds them durably;
5. only then acknowledge the batch's Kafka events.

A crash anywhere before 5 redelivers the batch; folding it again onto the (possibly newer) table
state is a no-op because `evolve` is idempotent, and the store collapses equal rows. Batches
come from `noack_take`, so Faust never acknowledges an event we have not written — also not on
SIGTERM, when the loop is cancelled mid-batch.

The table is keyed by copy, but each change is sent to the changelog partition of the event
that caused it (the event's network_message_id partition), so the table stays co-partitioned
with `mailflow.events` and recovers on the worker that owns the partition after a rebalance.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref

import faust
from faust.streams import _current_event

from inboxtrail.settings import Settings
from projections.delivery import PROJECTION_NAME, CopyState
from projections.state_rows import fold_batch
from streams import faust_offsets, metrics
from streams.dead_letters import DeadLetter, dead_letter_headers
from streams.decoding import decode_batch
from streams.mailbox import SimulatedMailbox
from streams.remediation import register_remediation_agent
from streams.state_codec import decode_state, encode_state

log = logging.getLogger("inboxtrail.worker")

AGENT_NAME = "project_email_state"
# RocksDB table store (one database per partition): Faust's defaults give each database a 2 GiB
# block cache and 3 x 64 MiB write buffers, so a worker with 6 partitions levelled off at ~530 MB
# RSS (BENCHMARKS.md, "Worker memory"). These bound it to 6 x (16 + 2 x 16) MiB of RocksDB memory.
# A copy's state is read back at most a few times, mostly while its events are recent, so a small
# cache costs little; the memory store ignores these.
ROCKSDB_OPTIONS = {"block_cache_size": 16 * 2**20, "write_buffer_size": 16 * 2**20, "max_write_buffer_number": 2}
COPY_KEY_SEPARATOR = "\x1f"


def copy_table_key(tenant_id: str, network_message_id: str, recipient: str) -> str:
    return COPY_KEY_SEPARATOR.join((tenant_id, network_message_id, recipient))


def copy_key_of(event) -> str:
    """The table key of an event's copy."""
    return copy_table_key(*event.copy_key)


class CopyStateTable:
    """The Faust table of copy states, values as bytes (`streams.state_codec`): the changelog is
    written and read only by inboxtrail workers, and bytes keep the in-memory table compact."""

    def __init__(self, table):
        self.table = table

    def load(self, key: str, cause) -> CopyState | None:
        """The stored state of a copy, read from the table partition of `cause` (an event of that
        copy): the RocksDB store keeps one database per partition and picks it by current event."""
        token = _current_event.set(weakref.ref(cause))
        try:
            raw = self.table.data.get(key.encode())
        finally:
            _current_event.reset(token)
        return None if raw is None else decode_state(raw)

    async def put_all(self, producer, changes: list[tuple[str, CopyState, object]]) -> None:
        """Put `(key, state, cause)` into the table and its changelog, and return once the broker
        has acknowledged every changelog record (retrying; the records are idempotent puts).

        What `table[key] = value` does per key — store the value, send `key → value` to the
        changelog partition of `cause`, remember the changelog offset in a RocksDB store — done
        for the whole batch at once: the changelog records go straight to the producer instead
        of one by one through Faust's send buffer, which cost more than the fold itself (a task
        switch and several futures per record)."""
        data = self.table.data
        topic = self.table.changelog_topic.get_topic_name()
        records = []
        token = _current_event.set(None)
        try:
            for key, state, cause in changes:
                raw_key, value = key.encode(), encode_state(state)
                _current_event.set(weakref.ref(cause))
                data[raw_key] = value
                records.append((raw_key, value, cause.message.partition))
        finally:
            _current_event.reset(token)
        delay = 0.5
        while True:
            try:
                sent = [await producer.send(topic, raw_key, value, partition, None, None)
                        for raw_key, value, partition in records]
                written = await asyncio.gather(*sent)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker unreachable: the batch is not acknowledged, send it again
                log.warning("changelog of %d states not yet written (%s); retrying in %.1f s", len(records), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        last_offsets: dict = {}
        for metadata in written:
            tp = metadata.topic_partition
            last_offsets[tp] = max(last_offsets.get(tp, -1), metadata.offset)
        for tp, offset in last_offsets.items():
            data.set_persisted_offset(tp, offset)


def create_store(settings: Settings):
    if settings.store == "chdb":
        from projections.chdb_store import ChdbStore
        return ChdbStore(settings.state_dir / "chdb", settings.clickhouse_database)
    from projections.server_store import ClickHouseServerStore
    return ClickHouseServerStore(settings)


def create_app(settings: Settings, store=None) -> faust.App:
    faust_offsets.apply()
    # per consumer group: Faust keeps table files under `<datadir>/v1/tables/<table>-<partition>.db`
    # whatever the app, so two pipelines sharing a directory would read each other's offsets
    datadir = settings.state_dir / "faust" / settings.consumer_group
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=settings.table_store,
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_bind="127.0.0.1",
        web_port=settings.worker_web_port,
        web_in_thread=False,
        autodiscover=False,
        producer_acks=-1,
        broker_commit_every=settings.batch_size,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=settings.batch_size * 2,
        table_cleanup_interval=3600.0,
        broker_session_timeout=settings.consumer_session_timeout_s,
        broker_heartbeat_interval=max(0.5, settings.consumer_session_timeout_s / 6),
    )
    events_topic = app.topic(settings.events_topic, key_type=bytes, value_type=bytes,
                             key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
    copy_states = CopyStateTable(app.Table(PROJECTION_NAME, default=None, partitions=settings.partitions,
                                           key_type=bytes, value_type=bytes, options=dict(ROCKSDB_OPTIONS)))
    store = store or create_store(settings)
    writer = DurableWriter(store)
    app.inboxtrail_writer = writer

    @app.agent(events_topic, concurrency=1, name=AGENT_NAME)
    async def project(stream):
        async for batch in stream.noack_take(settings.batch_size, within=settings.batch_window_s):
            metrics.observe_batch(len(batch))
            decoded, dead = decode_batch(batch)
            for letter in dead:
                await send_dead_letter(app, settings, letter)
                metrics.count_dead_letter(letter.reason)
            folded, left = fold_batch(decoded, copy_key_of, copy_states.load)
            events = [event for _, event in decoded]
            await writer.write(events, [state for state, _ in folded.values()], left)
            await copy_states.put_all(app.producer, [(key, state, kafka_event)
                                                     for key, (state, kafka_event) in folded.items()])
            await app.producer.flush()
            for kafka_event in batch:
                await stream.ack(kafka_event)
            metrics.count_projected(event.type for event in events)
            metrics.observe_freshness([kafka_event.message.timestamp for kafka_event in batch], time.time())

    register_remediation_agent(app, settings, copy_states, copy_table_key, SimulatedMailbox(), send_dead_letter)

    broker = BrokerProbe(settings)

    @app.timer(interval=1.0)
    async def probe_broker():
        await broker.probe()

    stalled_commits = faust_offsets.StalledCommits()

    @app.timer(interval=5.0)
    async def seek_back_stalled_commits():
        for _ in await stalled_commits.check(app.consumer):
            metrics.count_reseek()

    @app.page("/readyz")
    async def readyz(web, request):
        # consuming: partitions assigned, the table recovered and the flow resumed — not while the
        # worker is still starting or a rebalance holds the flow (the web server answers before that)
        consuming = app.flow_control.is_active() and app.tables.recovery.completed.is_set()
        ready = writer.ready and broker.reachable and consuming
        return web.json({"ready": ready, "store": "ok" if writer.ready else "failing",
                         "store_failing_for_s": writer.failing_for(),
                         "broker": "ok" if broker.reachable else "unreachable",
                         "consumer": "consuming" if consuming else "starting or rebalancing"},
                        status=200 if ready else 503)

    @app.page("/healthz")
    async def healthz(web, request):
        return web.json({"alive": True})

    @app.page("/metrics")
    async def metrics_page(web, request):
        body, content_type = metrics.render_latest()
        return web.bytes(body, content_type=content_type)

    @app.timer(interval=5.0)
    async def report_lag():
        """Lag per owned partition of the event log (high watermark − fetch position); partitions
        this worker no longer owns are forgotten so their last value cannot keep an alert firing."""
        consumer = app.consumer
        owned = {tp for tp in consumer.assignment() if tp.topic == settings.events_topic}
        for tp in owned:
            highwater, position = consumer.highwater(tp), await consumer.position(tp)
            if highwater is not None and position is not None:
                metrics.set_lag(tp.partition, max(0, highwater - position))
        metrics.forget_lag(set(range(settings.partitions)) - {tp.partition for tp in owned})

    return app


async def send_dead_letter(app: faust.App, settings: Settings, letter: DeadLetter) -> None:
    """Publish to the DLQ and wait for the broker's ack, so a dead letter is never lost."""
    delay = 0.5
    while True:
        try:
            await app.producer.send_and_wait(settings.dlq_topic, letter.key, letter.value, None, None,
                                             dead_letter_headers(letter))
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # broker unreachable: retrying is safe, the DLQ tolerates duplicates
            log.warning("dead letter not yet published (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class BrokerProbe:
    """Whether the bootstrap broker accepts connections (checked every second by a timer)."""

    def __init__(self, settings: Settings):
        self.host, self.port = settings.kafka_host, settings.kafka_port
        self.reachable = True

    async def probe(self) -> None:
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout=1.0)
            writer.close()
            self.reachable = True
        except (OSError, asyncio.TimeoutError):
            self.reachable = False


class DurableWriter:
    """Writes a batch until it is durable; retries with capped exponential back-off, never raises.

    A retry is safe because every projection write is idempotent. While writes fail the worker
    is not ready, and because the agent does not return, consumption stops (Faust pauses
    fetching once its stream buffer is full) instead of buffering without bound."""

    def __init__(self, store, first_delay: float = 0.2, max_delay: float = 10.0):
        self.store = store
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.failing_since: float | None = None

    @property
    def ready(self) -> bool:
        return self.failing_since is None

    def failing_for(self) -> float:
        return 0.0 if self.failing_since is None else round(time.monotonic() - self.failing_since, 1)

    async def write(self, events, states, replaced=()) -> None:
        delay = self.first_delay
        while True:
            started = time.perf_counter()
            try:
                await asyncio.to_thread(self.store.write, events, states, replaced)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.observe_write(self.store.name, time.perf_counter() - started, ok=False)
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                    metrics.set_writer_ready(False)
                log.warning("write of %d events / %d states failed (%s); retrying in %.1f s",
                            len(events), len(states), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                continue
            metrics.observe_write(self.store.name, time.perf_counter() - started, ok=True)
            if self.failing_since is not None:
                log.info("store writable again after %.1f s", time.monotonic() - self.failing_since)
                self.failing_since = None
                metrics.set_writer_ready(True)
            return
