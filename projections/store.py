"""The projection store: one interface, two engines (ClickHouse server, chDB), one contract suite.

`ProjectionStore` holds everything the two stores share — migrations, the row mappings, every read
— on top of four primitives each engine implements: run a statement, select rows, stream rows,
insert rows. Query text comes from `projections.queries` (values bound, never formatted in) and DDL
from `projections.ddl`; table names only from `projections.ddl` constants.

Write contract (`write`): one batch = the batch's events → `email_events`, then the folded states
→ `email_state`. Both inserts are idempotent (equal rows collapse; a state with a lower version
never wins over a higher one), so a failed batch is simply written again, in any order relative to
other batches; a raised `StoreUnavailable` means "nothing is acknowledged, retry".
"""
from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from math import ceil

from projections import queries
from projections.ddl import (
    CREATE_REBUILD_TABLE,
    DROP_REBUILD_TABLE,
    DROP_REPLACED_TABLE,
    MIGRATIONS,
    OPTIMIZE_TABLES,
    REBUILD_TABLE,
    SCHEMA_MIGRATIONS,
    STATE_TABLE,
    SWAP_REBUILT_STATE,
)
from projections.delivery import CopyKey, CopyState
from projections.queries import BoundQuery, ChartPoint, EmailPage, EmailQuery, EmailSummary
from projections.state_rows import STATE_COLUMNS, state_from_row, state_row
from projections.timeline import EVENT_COLUMNS, TimelineEntry, event_row
from schemas.events import MailFlowEvent
from schemas.jsonform import event_from_json, format_timestamp

COPY_KEYS_PER_QUERY = 500
EVENTS_TABLE = "email_events"


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
        outcomes = []
        for migration in MIGRATIONS:
            if migration.version in applied:
                outcomes.append((migration.version, migration.name, "already applied"))
                continue
            for statement in migration.statements:
                self._execute(statement)
            self._insert("schema_migrations", ("version", "name", "applied_at"),
                         [(migration.version, migration.name, int(time.time()))])
            outcomes.append((migration.version, migration.name, "applied"))
        return outcomes

    def optimize(self) -> None:
        """Merge every part now (tests and benchmarks): query results must not change by it."""
        for statement in OPTIMIZE_TABLES:
            self._execute(statement)

    def begin_rebuild(self) -> None:
        """An empty `email_state_rebuild` of email_state's exact structure and engine."""
        self._execute(DROP_REBUILD_TABLE)
        self._execute(CREATE_REBUILD_TABLE)

    def finish_rebuild(self) -> None:
        """Swap the rebuilt table in for email_state and drop the old one."""
        self._execute(DROP_REPLACED_TABLE)
        self._execute(SWAP_REBUILT_STATE)
        self._execute(DROP_REPLACED_TABLE)

    # -- writes --------------------------------------------------------------------------------
    def write(self, events: Sequence[MailFlowEvent], states: Sequence[CopyState]) -> None:
        """One batch: events → email_events, then states → email_state. Idempotent; see the module."""
        if events:
            self._insert(EVENTS_TABLE, EVENT_COLUMNS, [event_row(event) for event in events])
        if states:
            self.write_states(states)

    def write_events(self, events: Sequence[MailFlowEvent]) -> None:
        """The log only (the worker before it folds); idempotent."""
        self.write(events, ())

    def write_states(self, states: Sequence[CopyState], table: str = STATE_TABLE) -> None:
        """States → email_state (or, during a rebuild, email_state_rebuild); idempotent."""
        if table not in (STATE_TABLE, REBUILD_TABLE):
            raise ValueError(f"table: states go to {STATE_TABLE} or {REBUILD_TABLE}, not {table!r}")
        self._insert(table, STATE_COLUMNS, [state_row(state) for state in states])

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

    def all_events(self, tenant_id: str | None = None, batch: int = 50_000) -> Iterator[list[MailFlowEvent]]:
        """The whole log (or one tenant's), each event once, in lists of about `batch` events.
        Every list holds *all* events of the copies in it, grouped by copy in order-key order, so
        a list folds to final states on its own."""
        total = self._select(queries.event_count(tenant_id))[0][0]
        slices = max(1, ceil(total / batch))
        for slice_index in range(slices):
            rows = self._stream(queries.log_slice(tenant_id, slice_index, slices))
            events = [_event_of_row(row) for row in rows]
            if events:
                yield events


def _event_of_row(row: Sequence) -> MailFlowEvent:
    """An event back from its `email_events` row. Validated again, against the clock of its own
    time: the log holds only events that passed validation when they were written."""
    tenant_id, network_message_id, recipient, occurred_at_us, event_id, source, kind, payload_json = row
    envelope = {"event_id": event_id, "tenant_id": tenant_id, "network_message_id": network_message_id,
                "recipient": recipient, "occurred_at": format_timestamp(occurred_at_us), "source": source,
                "type": kind, "payload": json.loads(payload_json)}
    return event_from_json(envelope, clock=lambda: occurred_at_us)
