"""ClickHouse DDL of the projections, as ordered, versioned migrations.

Every statement runs on the subset shared by ClickHouse 18.16 (Debian's server, used in tests)
and modern ClickHouse (chDB 26.x and what users run): no DateTime64, TTL, codecs or skip indexes.
Table names are unqualified: the store connects to (or `USE`s) the inboxtrail database, so no
statement is assembled from strings. Statements are idempotent (`IF NOT EXISTS`), and applied
versions are recorded in `schema_migrations`, so `inboxtrail migrate` is safe to repeat.

Time is kept twice: `occurred_at` (DateTime, seconds) for partitions and time filters, and
`occurred_at_us` (UInt64 microseconds) as the exact order key, because 18.16 has no DateTime64.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime
) ENGINE = ReplacingMergeTree(applied_at) ORDER BY version
"""

# The log / timeline. An event's duplicates are byte-identical rows with the same sorting key, so
# ReplacingMergeTree collapses them; reads also dedupe (`LIMIT 1 BY event_id`) because merges are
# eventual. Partitioning by event month keeps an event's duplicates in one partition.
EMAIL_EVENTS = """
CREATE TABLE IF NOT EXISTS email_events (
    tenant_id String,
    network_message_id String,
    recipient String,
    occurred_at DateTime,
    occurred_at_us UInt64,
    event_id String,
    source String,
    type String,
    action String,
    result String,
    to_location String,
    threat_types Array(String),
    detection_methods Array(String),
    actor String,
    request_id String,
    payload_json String,
    ingested_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(occurred_at_us)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, network_message_id, recipient, occurred_at_us, event_id)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "email_events", (EMAIL_EVENTS,)),
)
