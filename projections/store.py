"""The projection store: one interface, two engines (ClickHouse server, chDB), one contract suite.

`ProjectionStore` holds everything the two stores share — migrations, the row mappings, every read
— on top of four primitives each engine implements: run a statement, select rows, stream rows,
insert rows. Query text comes from `projections.queries` (values bound, never formatted in) and DDL
from `projections.ddl`; table names only from `projections.ddl` constants.

Write contract (`write`): one batch = the batch's events → `email_events`, then the folded states
→ `email_state_by_time` and `email_state`, in that order (email_state is what a worker recovers its
fold state from, so it is written last). Every insert is idempotent (equal rows collapse; a state
with a lower version never wins over a higher one), so a failed batch is simply written again, in
any order relative to other batches; a raised `StoreUnavailable` means "nothing is acknowledged,
retry". The writer passes the states the batch's states replace (`replaced`, as it folded from
them), so a copy that moved on the time axis leaves a tombstone behind in `email_state_by_time`.
"""
from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from math import ceil

from projections import queries
from projections.ddl import (
    BY_TIME_COLUMNS,
    BY_TIME_TABLE,
    EVENTS_TABLE,
    MIGRATIONS,
    OPTIMIZE_TABLES,
    REBUILD_SUFFIX,
    SCHEMA_MIGRATIONS,
    STATE_TABLE,
    STATE_TABLES,
    rebuild_statements,
    server_release,
)
from projections.delivery import CopyKey, CopyState
from projections.queries import BoundQuery, ChartPoint, EmailPage, EmailQuery, EmailSummary
from projections.state_rows import STATE_COLUMNS, by_time_rows, state_from_row, state_row
from projections.timeline import EVENT_COLUMNS, TimelineEntry, event_row
from schemas.events import MailFlowEvent
from schemas.jsonform import event_from_json, format_timestamp

COPY_KEYS_PER_QUERY = 500


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or refused the write; retrying later is safe (writes are idempotent)."""


class ProjectionStore(ABC):
    name: str

    # -- engine primitives ---------------------------------------------------------------------
    @abstractmethod
    def _ensure_database(self) -> None:
        """Create the inboxtrail database if missing and make it the current one."""

    @abstractmethod
    def _execute(self, statement: str) -> None:
        """Run a statement without values (DDL from `projections.ddl`)."""

    @abstractmethod
    def _select(self, query: BoundQuery) -> list[tuple]:
        """Rows as tuples of str / int / list values."""

    @abstractmethod
    def _stream(self, query: BoundQuery) -> Iterator[tuple]:
        """Like `_select`, without holding the whole result in memory."""

    @abstractmethod
    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        """Insert rows in one batch; raise `StoreUnavailable` if it may not be durable."""

    @abstractmethod
    def close(self) -> None: ...

    # -- schema --------------------------------------------------------------------------------
    def migrate(self) -> list[tuple[int, str, str]]:
        """Apply pending migrations in order; returns (version, name, outcome). Safe to repeat."""
        self._ensure_database()
        self._execute(SCHEMA_MIGRATIONS)
        applied = {row[0] for row in self._select(BoundQuery("SELECT version FROM schema_migrations", {}))}
        release = server_release(self.server_version())
        outcomes = []
        for migration in MIGRATIONS:
            if migration.version in applied:
                outcomes.append((migration.version, migration.name, "already applied"))
                continue
            if migration.min_server is not None and release < migration.min_server:
                needed = ".".join(map(str, migration.min_server))
                outcomes.append((migration.version, migration.name, f"skipped (needs ClickHouse >= {needed})"))
                continue
            for statement in migration.statements:
                self._execute(statement)
            self._insert("schema_migrations", ("version", "name", "applied_at"),
                         [(migration.version, migration.name, int(time.time()))])
            outcomes.append((migration.version, migration.name, "applied"))
        return outcomes

    def server_version(self) -> str:
        """The engine's `SELECT version()` ("18.16.1", "25.8.2.29")."""
        return self._select(BoundQuery("SELECT version()", {}))[0][0]

    def optimize(self) -> None:
        """Merge every part now (tests and benchmarks): query results must not change by it."""
        for statement in OPTIMIZE_TABLES:
            self._execute(statement)

    def begin_rebuild(self, log: bool = False) -> None:
        """Empty `*_rebuild` tables of the state tables' (and with `log`, email_events') exact
        structure and engine."""
        for statement in rebuild_statements(_rebuilt_tables(log))[0]:
            self._execute(statement)

    def finish_rebuild(self, log: bool = False) -> None:
        """Swap the rebuilt tables in (one RENAME) and drop the replaced ones."""
        for statement in rebuild_statements(_rebuilt_tables(log))[1]:
            self._execute(statement)

    # -- writes --------------------------------------------------------------------------------
    def write(self, events: Sequence[MailFlowEvent], states: Sequence[CopyState],
              replaced: Iterable[CopyState] = ()) -> None:
        """One batch: events → email_events, then the states (folded from `replaced`, the earlier
        states of some of their copies) → the state tables. Idempotent; see the module."""
        if events:
            self.write_events(events)
        if states:
            self.write_states(states, replaced)

    def write_events(self, events: Sequence[MailFlowEvent], rebuild: bool = False) -> None:
        """The log only (or, during a rebuild from Kafka, email_events_rebuild); idempotent."""
        if not events:
            return
        self._insert(EVENTS_TABLE + (REBUILD_SUFFIX if rebuild else ""), EVENT_COLUMNS,
                     [event_row(event) for event in events])

    def write_states(self, states: Sequence[CopyState], replaced: Iterable[CopyState] = (),
                     rebuild: bool = False) -> None:
        """States → email_state_by_time, then email_state (or, during a rebuild, their `*_rebuild`
        tables); idempotent."""
        suffix = REBUILD_SUFFIX if rebuild else ""
        rows = [state_row(state) for state in states]
        self._insert(BY_TIME_TABLE + suffix, BY_TIME_COLUMNS, by_time_rows(rows, replaced))
        self._insert(STATE_TABLE + suffix, STATE_COLUMNS, rows)

    # -- reads ---------------------------------------------------------------------------------
    def timeline(self, network_message_id: str, tenant_id: str = "", recipient: str = "") -> list[TimelineEntry]:
        """Events of a message (all copies) or of one copy, by `(occurred_at, event_id)`, each once."""
        rows = self._select(queries.timeline(network_message_id, tenant_id, recipient))
        return [TimelineEntry(*row[:10], tuple(row[10]), tuple(row[11]), row[12], row[13], json.loads(row[14]))
                for row in rows]

    def copy_state(self, tenant_id: str, network_message_id: str, recipient: str) -> CopyState | None:
        return self.copy_states(tenant_id, [(network_message_id, recipient)]).get(
            (tenant_id, network_message_id, recipient))

    def copy_states(self, tenant_id: str, keys: Iterable[tuple[str, str]]) -> dict[CopyKey, CopyState]:
        """Stored states of the copies `(network_message_id, recipient)` of one tenant; copies the
        store has never seen are absent from the result."""
        keys = list(dict.fromkeys(keys))
        found: dict[CopyKey, CopyState] = {}
        for start in range(0, len(keys), COPY_KEYS_PER_QUERY):
            for row in self._select(queries.copy_states(tenant_id, keys[start:start + COPY_KEYS_PER_QUERY])):
                state = state_from_row(row)
                found[state.copy_key] = state
        return found

    def emails(self, query: EmailQuery) -> EmailPage:
        """One page of copies in the query's order; `next_cursor` is None on the last page."""
        emails = self._latest_of(query.tenant_id, lambda rows: queries.email_list(query, rows), query.limit + 1)
        more = len(emails) > query.limit
        emails = emails[:query.limit]
        return EmailPage(emails, query.cursor_after(emails[-1]) if more else None)

    def _latest_of(self, tenant_id: str, candidates: Callable[[int], BoundQuery | None],
                   wanted: int) -> list[EmailSummary]:
        """The first `wanted` candidates that are their copy's latest version, in candidate order
        (`projections.queries` says why that is exact); reads more candidates while too few are."""
        rows = max(2 * wanted, 64)
        while True:
            query = candidates(rows)
            found = self._select(query) if query is not None else []
            latest: dict[tuple[str, str], tuple] = {}
            for start in range(0, len(found), COPY_KEYS_PER_QUERY):
                keys = [(m, r) for m, r, _ in found[start:start + COPY_KEYS_PER_QUERY]]
                for row in self._select(queries.copy_versions(tenant_id, keys)):
                    key = (row[1], row[2])
                    if key not in latest or row[-1] > latest[key][-1]:
                        latest[key] = row
            listed: dict[tuple[str, str], EmailSummary] = {}
            for network_message_id, recipient, version in found:
                key = (network_message_id, recipient)
                if key not in listed and latest[key][-1] == version:
                    listed[key] = EmailSummary.from_row(latest[key][:-1])
            if len(listed) >= wanted or len(found) < rows:
                return list(listed.values())[:wanted]
            rows *= 4

    def email_details(self, tenant_id: str, network_message_id: str, recipient: str | None = None) -> list[CopyState]:
        """Every copy of a message (or the one copy), by recipient: delivery and email details,
        URLs, attachments, original and latest location, additional actions."""
        return [state_from_row(row)
                for row in self._select(queries.message_states(tenant_id, network_message_id, recipient))]

    def chart(self, query: EmailQuery, pivot: str = "delivery_action", interval: str = "day") -> list[ChartPoint]:
        """Copies per received-time bucket and pivot value, of the copies `query` selects."""
        return [ChartPoint(bucket * 1_000_000, value, emails)
                for bucket, value, emails in self._select(queries.chart(query, pivot, interval))]

    def similar(self, tenant_id: str, network_message_id: str, limit: int = 50) -> list[EmailSummary]:
        """Copies of other messages with the same sender and subject, or sharing a URL or an
        attachment SHA-256 with this message; newest first."""
        if not 1 <= limit <= queries.SIMILAR_LIMIT:
            raise ValueError(f"limit: expected an integer from 1 to {queries.SIMILAR_LIMIT}")
        copies = self.email_details(tenant_id, network_message_id)
        if not copies:
            return []
        return self._latest_of(tenant_id, lambda rows: queries.similar(copies, rows), limit)

    def all_events(self, tenant_id: str | None = None, batch: int = 50_000,
                   rebuild: bool = False) -> Iterator[list[MailFlowEvent]]:
        """The whole log (or one tenant's; or with `rebuild`, email_events_rebuild), each event
        once, in lists of about `batch` events. Every list holds *all* events of the copies in it,
        grouped by copy in order-key order, so a list folds to final states on its own."""
        table = EVENTS_TABLE + (REBUILD_SUFFIX if rebuild else "")
        total = self._select(queries.event_count(tenant_id, table))[0][0]
        slices = max(1, ceil(total / batch))
        for slice_index in range(slices):
            rows = self._stream(queries.log_slice(tenant_id, slice_index, slices, table))
            events = [_event_of_row(row) for row in rows]
            if events:
                yield events


def _rebuilt_tables(log: bool) -> tuple[str, ...]:
    return (EVENTS_TABLE, *STATE_TABLES) if log else STATE_TABLES


def _event_of_row(row: Sequence) -> MailFlowEvent:
    """An event back from its `email_events` row. Validated again, against the clock of its own
    time: the log holds only events that passed validation when they were written."""
    tenant_id, network_message_id, recipient, occurred_at_us, event_id, source, kind, payload_json = row
    envelope = {"event_id": event_id, "tenant_id": tenant_id, "network_message_id": network_message_id,
                "recipient": recipient, "occurred_at": format_timestamp(occurred_at_us), "source": source,
                "type": kind, "payload": json.loads(payload_json)}
    return event_from_json(envelope, clock=lambda: occurred_at_us)
