"""The ClickHouse-server store (clickhouse-driver, native protocol): the production path.

Writes are columnar batch inserts; every value reaches the server as a bound parameter or as
native-protocol column data, never inside SQL text.
"""
from __future__ import annotations

import json
import time
from typing import Sequence

from clickhouse_driver import Client

from inboxtrail.settings import Settings
from projections.ddl import DATABASE_NAME, MIGRATIONS, SCHEMA_MIGRATIONS
from projections.timeline import EVENT_COLUMNS, TimelineEntry, event_row
from schemas.events import MailFlowEvent

TIMELINE_SQL = """
SELECT tenant_id, network_message_id, recipient, occurred_at_us, event_id, source, type, action,
       result, to_location, threat_types, detection_methods, actor, request_id, payload_json
FROM email_events
WHERE network_message_id = %(network_message_id)s
  AND (%(tenant_id)s = '' OR tenant_id = %(tenant_id)s)
  AND (%(recipient)s = '' OR recipient = %(recipient)s)
ORDER BY tenant_id, recipient, occurred_at_us, event_id
LIMIT 1 BY tenant_id, recipient, event_id
"""

INSERT_EVENTS = "INSERT INTO email_events (" + ", ".join(EVENT_COLUMNS) + ") VALUES"


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or refused the write; retrying later is safe (writes are idempotent)."""


class ClickHouseServerStore:
    name = "clickhouse"

    def __init__(self, settings: Settings):
        if not DATABASE_NAME.match(settings.clickhouse_database):
            raise ValueError(f"INBOXTRAIL_CLICKHOUSE_DATABASE {settings.clickhouse_database!r} is not a valid "
                             "database name (letters, digits, underscore; not starting with a digit)")
        self.settings = settings
        self._client: Client | None = None

    def _connect(self, database: str | None = None) -> Client:
        s = self.settings
        return Client(host=s.clickhouse_host, port=s.clickhouse_port, user=s.clickhouse_user,
                      password=s.clickhouse_password, database=database or s.clickhouse_database,
                      connect_timeout=5, send_receive_timeout=60, settings={"use_numpy": False})

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client = None

    def server_version(self) -> str:
        return self.client.execute("SELECT version()")[0][0]

    def migrate(self) -> list[tuple[int, str, str]]:
        """Apply pending migrations in order; returns (version, name, outcome)."""
        bootstrap = self._connect(database="default")
        try:
            # the one identifier that cannot be a bound parameter; validated against DATABASE_NAME
            bootstrap.execute(f"CREATE DATABASE IF NOT EXISTS `{self.settings.clickhouse_database}`")
        finally:
            bootstrap.disconnect()
        self.client.execute(SCHEMA_MIGRATIONS)
        applied = {row[0] for row in self.client.execute("SELECT version FROM schema_migrations")}
        outcomes = []
        for migration in MIGRATIONS:
            if migration.version in applied:
                outcomes.append((migration.version, migration.name, "already applied"))
                continue
            for statement in migration.statements:
                self.client.execute(statement)
            self.client.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES",
                                [(migration.version, migration.name, int(time.time()))])
            outcomes.append((migration.version, migration.name, "applied"))
        return outcomes

    def write_events(self, events: Sequence[MailFlowEvent]) -> None:
        """Insert the batch; idempotent because email_events collapses equal event rows."""
        if not events:
            return
        rows = [event_row(event) for event in events]
        columns = list(zip(*rows))
        try:
            self.client.execute(INSERT_EVENTS, columns, columnar=True)
        except Exception as exc:
            self.close()  # a broken connection must not be reused by the retry
            raise StoreUnavailable(f"ClickHouse write failed: {exc}") from exc

    def timeline(self, network_message_id: str, tenant_id: str = "", recipient: str = "") -> list[TimelineEntry]:
        rows = self.client.execute(TIMELINE_SQL, {"network_message_id": network_message_id,
                                                  "tenant_id": tenant_id, "recipient": recipient})
        return [TimelineEntry(*row[:10], tuple(row[10]), tuple(row[11]), row[12], row[13], json.loads(row[14]))
                for row in rows]
