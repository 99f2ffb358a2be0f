"""ClickHouse DDL of the projections, as ordered, versioned migrations.

Every statement runs on the subset shared by ClickHouse 18.16 (Debian's server, used in tests)
and modern ClickHouse (chDB 26.x and what users run): no DateTime64, TTL, codecs or skip indexes —
except in migrations with `min_server`, which only servers of that release or newer apply.
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
    min_server: tuple[int, int] | None = None  # modern-only: skipped (and not recorded) below it


def server_release(version: str) -> tuple[int, int]:
    """`SELECT version()` text ("18.16.1", "25.8.2.29") → (major, minor)."""
    major, minor, *_ = (version.split(".") + ["0", "0"])
    return int(major), int(minor)


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

# The facts of a copy both state tables hold, column for column (filters, sorts, pivots read them).
_COPY_FACTS = """\
    recipient_domain String,
    internet_message_id String,
    direction String,
    sender_mail_from String,
    sender_from_address String,
    sender_display_name String,
    sender_domain String,
    sender_ip String,
    subject String,
    original_delivery_action String,
    original_location String,
    original_threat_types Array(String),
    original_detection_methods Array(String),
    latest_delivery_action String,
    latest_location String,
    latest_threat_types Array(String),
    latest_detection_methods Array(String),
    additional_actions Array(String),
    urls Array(String),
    url_domains Array(String),
    attachment_names Array(String),
    attachment_types Array(String),
    attachment_sha256s Array(String),
"""

# The current state of every copy: one row per copy once merged, `CopyState` column for column
# (`projections/state_rows.py` maps both ways), so the worker recovers its fold state from here.
# * ReplacingMergeTree(version): `CopyState.version` grows strictly with every distinct event of
#   the copy and is equal for equal event sets, so the surviving row is the fold of the most
#   events whatever order the batches arrived in. Reads use FINAL: exact before merges.
# * No PARTITION BY: a partition key must never change for a copy, and the only copy facts known
#   from its first event are its ids (received_at is unknown until the OriginalDelivery arrives).
#   A hash of the ids would prune nothing the primary key does not already prune, and would split
#   every worker batch into one part per partition.
# * Multi-valued facets are Array(String) so filters are `hasAny`; enum facets hold Avro symbols,
#   additional actions hold `AdditionalAction` member names.
# * received_at / received_at_us: time of the earliest OriginalDelivery, or of the copy's first
#   event until an OriginalDelivery arrives (so every copy sits somewhere on the time axis);
#   `original_order_event_id = ''` tells the two apart.
# * `*_order_at_us` / `*_order_event_id` are the fold's register order keys (event id '' = None).
# * index_granularity 1024 (default 8192): lists, details and the worker's state recovery look
#   copies up by primary key, and a lookup reads whole granules of every selected column.
EMAIL_STATE = f"""
CREATE TABLE IF NOT EXISTS email_state (
    tenant_id String,
    network_message_id String,
    recipient String,
{_COPY_FACTS}    attachment_sizes Array(UInt64),
    size_bytes UInt64,
    received_at DateTime,
    received_at_us UInt64,
    first_event_at_us UInt64,
    last_event_at_us UInt64,
    event_count UInt32,
    original_order_at_us UInt64,
    original_order_event_id String,
    latest_location_order_at_us UInt64,
    latest_location_order_event_id String,
    latest_threat_types_order_at_us UInt64,
    latest_threat_types_order_event_id String,
    latest_detection_methods_order_at_us UInt64,
    latest_detection_methods_order_event_id String,
    event_digests Array(UInt64),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, network_message_id, recipient)
SETTINGS index_granularity = 1024
"""

# Remediation requests (projections/remediation_requests.py): one row per change of a request,
# the newest version wins; per-copy results are AdminAction events in email_events.
REQUESTS_TABLE = "remediation_requests"
REMEDIATION_REQUESTS = """
CREATE TABLE IF NOT EXISTS remediation_requests (
    tenant_id String,
    request_id String,
    action String,
    requester String,
    approver String,
    reason String,
    state String,
    target_count UInt64,
    targets_json String,
    created_at_us UInt64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, request_id)
"""

# email_state again, ordered by received time, for what reads a time range of a tenant (charts,
# lists with a received-time filter): the primary key then selects the range instead of the whole
# tenant, and `FINAL` — single-threaded on 18.16 — merges only that range. Columns: everything a
# filter, sort or pivot reads (`BY_TIME_COLUMNS`), no fold registers.
# * A copy's received time can move (its first event arrives late, or its OriginalDelivery arrives
#   after other events), and with it the row's sorting key; the row left behind at the old key is
#   replaced by a *tombstone* (`superseded = 1`) carrying the version of the state that moved it.
#   Versions grow with every distinct event, so the tombstone outranks every state that lived at the
#   old key, and a state that comes back to that key outranks the tombstone: exact in any write order.
# * Readers keep `superseded = 0` after `FINAL`, and compare candidate versions with email_state.
# * The copy is identified in the key by `copy_hash` (64-bit hash of its ids, computed by the
#   server) rather than by its two id strings: FINAL merges on it, ~20 % faster on a 30-day chart
#   of 1.7M copies. Two copies of one tenant would have to share the received microsecond *and*
#   the hash to be confused.
# * Migration 4 fills it from email_state once, for databases created before it existed.
BY_TIME_TABLE = "email_state_by_time"
EMAIL_STATE_BY_TIME = f"""
CREATE TABLE IF NOT EXISTS email_state_by_time (
    tenant_id String,
    received_at_us UInt64,
    network_message_id String,
    recipient String,
{_COPY_FACTS}    size_bytes UInt64,
    received_at DateTime,
    version UInt64,
    superseded UInt8,
    copy_hash UInt64 MATERIALIZED cityHash64(network_message_id, recipient)
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, received_at_us, copy_hash)
"""
BY_TIME_COLUMNS = (
    "tenant_id", "received_at_us", "network_message_id", "recipient", "recipient_domain", "internet_message_id",
    "direction", "sender_mail_from", "sender_from_address", "sender_display_name", "sender_domain", "sender_ip",
    "subject", "original_delivery_action", "original_location", "original_threat_types",
    "original_detection_methods", "latest_delivery_action", "latest_location", "latest_threat_types",
    "latest_detection_methods", "additional_actions", "urls", "url_domains", "attachment_names",
    "attachment_types", "attachment_sha256s", "size_bytes", "received_at", "version", "superseded",
)
FILL_BY_TIME = (f"INSERT INTO email_state_by_time ({', '.join(BY_TIME_COLUMNS)}) "
                f"SELECT {', '.join(BY_TIME_COLUMNS[:-1])}, 0 FROM email_state FINAL")

# Modern servers only (ClickHouse ≥ 21.1: data-skipping indexes are GA there; 18.16 has none): bloom
# filters on the facets analysts filter by equality / "any of", on both state tables, so a list or a
# similar-emails query skips granules instead of scanning the tenant. Existing parts get them through
# MATERIALIZE INDEX (a background mutation). On older servers the migration is reported as skipped
# and not recorded, so `inboxtrail migrate` applies it after a server upgrade.
_SKIP_INDEXED = ("sender_domain", "sender_from_address", "sender_ip", "recipient_domain", "internet_message_id",
                 "url_domains", "urls", "attachment_sha256s")
SKIP_INDEXES = tuple(
    statement
    for table in ("email_state", "email_state_by_time")
    for column in _SKIP_INDEXED
    for statement in (f"ALTER TABLE {table} ADD INDEX IF NOT EXISTS {column}_bloom {column} "
                      "TYPE bloom_filter(0.01) GRANULARITY 4",
                      f"ALTER TABLE {table} MATERIALIZE INDEX {column}_bloom")
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "email_events", (EMAIL_EVENTS,)),
    Migration(2, "email_state", (EMAIL_STATE,)),
    Migration(3, "remediation_requests", (REMEDIATION_REQUESTS,)),
    Migration(4, "email_state_by_time", (EMAIL_STATE_BY_TIME, FILL_BY_TIME)),
    Migration(5, "facet_skip_indexes", SKIP_INDEXES, min_server=(21, 1)),
)

# `inboxtrail rebuild` folds the log into fresh tables of the state tables' exact structure and
# engine, then swaps them in by renaming (18.16 has RENAME TABLE, not EXCHANGE TABLES).
# A rebuild from Kafka rebuilds the log table too (`email_events_rebuild`), then the states from it.
EVENTS_TABLE = "email_events"
STATE_TABLE = "email_state"
STATE_TABLES = (STATE_TABLE, BY_TIME_TABLE)
REBUILD_SUFFIX = "_rebuild"


def rebuild_statements(tables: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(statements that make empty `*_rebuild` tables of `tables`' exact structure and engine,
    statements that swap them in with one RENAME and drop the replaced tables)."""
    begin = (*(f"DROP TABLE IF EXISTS {table}_rebuild" for table in tables),
             *(f"CREATE TABLE {table}_rebuild AS {table}" for table in tables))
    drop_replaced = tuple(f"DROP TABLE IF EXISTS {table}_replaced" for table in tables)
    swap = "RENAME TABLE " + ", ".join(f"{table} TO {table}_replaced, {table}_rebuild TO {table}" for table in tables)
    return begin, (*drop_replaced, swap, *drop_replaced)


OPTIMIZE_TABLES = tuple(f"OPTIMIZE TABLE {table} FINAL" for table in (EVENTS_TABLE, *STATE_TABLES))
