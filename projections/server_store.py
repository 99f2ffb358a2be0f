"""The ClickHouse-server store (clickhouse-driver, native protocol): the production path.

Writes are columnar batch inserts; every value reaches the server as native-protocol column data
or as a parameter that clickhouse-driver escapes and quotes (ClickHouse 18.16 has no server-side
parameters, so the `{name:Type}` placeholders of `projections.queries` become `%(name)s`).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from clickhouse_driver import Client

from inboxtrail.settings import Settings
from projections.ddl import DATABASE_NAME
from projections.queries import BoundQuery
from projections.store import ProjectionStore, StoreUnavailable

__all__ = ["ClickHouseServerStore", "StoreUnavailable", "driver_sql"]

_PLACEHOLDER = re.compile(r"\{(p\d+):[A-Za-z0-9()]+\}")


def driver_sql(sql: str) -> str:
    """`{name:Type}` placeholders → `%(name)s`, every other `%` doubled: clickhouse-driver
    %-formats the text with the escaped values, so a literal `%` must not read as a directive."""
    pieces = _PLACEHOLDER.split(sql)
    # split() alternates text, placeholder name, text, …
    return "".join(piece.replace("%", "%%") if index % 2 == 0 else f"%({piece})s"
                   for index, piece in enumerate(pieces))


class ClickHouseServerStore(ProjectionStore):
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

    def _ensure_database(self) -> None:
        bootstrap = self._connect(database="default")
        try:
            # the one identifier that cannot be a bound parameter; validated against DATABASE_NAME
            bootstrap.execute(f"CREATE DATABASE IF NOT EXISTS `{self.settings.clickhouse_database}`")
        finally:
            bootstrap.disconnect()

    def drop_database(self) -> None:
        """Drop the whole inboxtrail database (benchmarks and throw-away test databases)."""
        self.close()
        bootstrap = self._connect(database="default")
        try:
            bootstrap.execute(f"DROP DATABASE IF EXISTS `{self.settings.clickhouse_database}`")
        finally:
            bootstrap.disconnect()

    def _execute(self, statement: str) -> None:
        self.client.execute(statement)

    def _select(self, query: BoundQuery) -> list[tuple]:
        return self.client.execute(driver_sql(query.sql), query.params)

    def _stream(self, query: BoundQuery) -> Iterator[tuple]:
        # a fresh connection: the shared one is busy until the stream is drained
        client = self._connect()
        try:
            yield from client.execute_iter(driver_sql(query.sql), query.params)
        finally:
            client.disconnect()

    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        try:
            self.client.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", list(zip(*rows)),
                                columnar=True)
        except Exception as exc:
            self.close()  # a broken connection must not be reused by the retry
            raise StoreUnavailable(f"ClickHouse write to {table} failed: {exc}") from exc
