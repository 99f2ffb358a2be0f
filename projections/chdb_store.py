"""The embedded store (chDB): zero setup, one machine, one process.

chDB allows one session per process and one process per data directory, so a process opens one
`ChdbStore` and shares it (the worker and the API run together under `inboxtrail run`).

Values are bound, never formatted into SQL: reads bind `{name:Type}` parameters through chDB's
`params`, inserts send `INSERT … FORMAT JSONCompactEachRow` followed by one JSON array per row —
JSON escaping is the escaping, and it is measured faster than one bound statement per row.

chDB parses a bound String parameter in ClickHouse's *escaped* (TSV) text form, where a backslash
starts an escape sequence and a raw tab or newline ends the value; `_escaped` writes exactly that
form, so every string — backslashes, NULs, `\\N` included — arrives as given.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from chdb import session as chdb_session

from projections.ddl import DATABASE_NAME
from projections.queries import BoundQuery
from projections.store import ProjectionStore, StoreUnavailable

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0",
                          "\b": "\\b", "\f": "\\f"})


def _escaped(value: str | int) -> str | int:
    return value.translate(_ESCAPES) if isinstance(value, str) else value


class ChdbStore(ProjectionStore):
    name = "chdb"

    def __init__(self, path: str | Path, database: str = "inboxtrail"):
        if not DATABASE_NAME.match(database):
            raise ValueError(f"chDB database {database!r} is not a valid database name")
        Path(path).mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self.database = database
        self._session: chdb_session.Session | None = chdb_session.Session(str(path))
        self._ensure_database()

    @property
    def session(self) -> chdb_session.Session:
        if self._session is None:
            raise StoreUnavailable("the chDB store is closed")
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _query(self, sql: str, fmt: str = "CSV", params: dict | None = None):
        try:
            return self.session.query(sql, fmt, params=params)
        except Exception as exc:
            raise StoreUnavailable(f"chDB query failed: {exc}") from exc

    def _ensure_database(self) -> None:
        # the one identifier that cannot be a bound parameter; validated against DATABASE_NAME
        self._query(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        self._query(f"USE `{self.database}`")

    def _execute(self, statement: str) -> None:
        self._query(statement)

    def _select(self, query: BoundQuery) -> list[tuple]:
        params = {name: _escaped(value) for name, value in query.params.items()}
        result = self._query(query.sql, "JSONCompact", params)
        return [tuple(row) for row in json.loads(result.bytes())["data"]]

    def _stream(self, query: BoundQuery) -> Iterator[tuple]:
        return iter(self._select(query))

    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        lines = "\n".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows)
        self._query(f"INSERT INTO {table} ({', '.join(columns)}) FORMAT JSONCompactEachRow\n{lines}")
