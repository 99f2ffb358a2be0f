"""Migrations: repeatable, and modern-only extras (skip indexes) applied by modern servers only —
reported as skipped, and left unrecorded, on ClickHouse 18.16."""
from __future__ import annotations

from projections.ddl import MIGRATIONS, server_release
from projections.queries import BoundQuery


def _create_statement(store, table: str) -> str:
    return store._select(BoundQuery(f"SHOW CREATE TABLE {table}", {}))[0][0]


def test_migrating_again_changes_nothing_and_gates_modern_extras_by_server_release(projection_store):
    release = server_release(projection_store.server_version())
    outcomes = {version: outcome for version, _, outcome in projection_store.migrate()}
    assert set(outcomes) == {m.version for m in MIGRATIONS}
    recorded = {row[0] for row in projection_store._select(BoundQuery("SELECT version FROM schema_migrations", {}))}
    if projection_store.name == "chdb":  # embedded modern ClickHouse
        assert release >= (21, 1)
        assert set(outcomes.values()) == {"already applied"}
        assert 5 in recorded
        for table in ("email_state", "email_state_by_time"):
            assert "sender_domain_bloom" in _create_statement(projection_store, table)
    else:  # Debian's 18.16 server in the tests
        assert release == (18, 16)
        assert outcomes[5] == "skipped (needs ClickHouse >= 21.1)"
        assert 5 not in recorded
        assert "INDEX" not in _create_statement(projection_store, "email_state")
        assert {v: o for v, o in outcomes.items() if v != 5} == {m.version: "already applied"
                                                                for m in MIGRATIONS if m.version != 5}


def test_server_release_reads_both_spellings_of_version():
    assert server_release("18.16.1") == (18, 16)
    assert server_release("25.8.2.29") == (25, 8)
    assert server_release("26.1") == (26, 1)
