"""Prometheus metrics of the worker and the API, in the default registry, served on `/metrics`.

Names follow Prometheus conventions (`inboxtrail_` prefix, base units, `_total` for counters).
Every label has a bounded set of values, so a hostile or buggy input can never grow the number
of series: a value outside the known set is counted as `other` (type, reason, store, status,
result, method), API routes are the route *templates* and at most `MAX_API_ROUTES` of them get a
series of their own, and partitions are the topic's partitions.

Callers use the small functions below, named after what happened in the domain; nothing else
touches the metric objects. The hot path calls them once per batch, never once per event.
`deploy/prometheus/rules.yml` and `deploy/grafana/inboxtrail.json` refer to these names; their
tests check that every name they use exists here.
"""
from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from schemas.events import PAYLOAD_TYPES, ActionResult

OTHER = "other"

# -- bounded label values -----------------------------------------------------------------
EVENT_TYPES = frozenset(PAYLOAD_TYPES)
STORES = frozenset({"clickhouse", "chdb"})
# Dead-letter reasons: the `reason` labels of schemas.codec.CodecError (decode side) and of
# schemas.validation.ValidationError. A reason added there without being added here shows up as
# `other` until it is; `tests/unit/test_metrics.py` checks the two lists stay in step.
DEAD_LETTER_REASONS = frozenset({
    # codec
    "not_bytes", "empty", "bad_magic", "truncated", "unknown_fingerprint", "unknown_schema_id", "bad_body",
    "bad_utf8", "unknown_enum_symbol", "unknown_payload_type", "trailing_bytes", "unresolvable",
    # validation
    "blank", "not_uuid", "bad_tenant_id", "bad_address", "too_early", "too_late", "too_long", "too_many",
    "negative", "bad_timestamp", "missing", "unknown_field", "wrong_type",
})
# Remediation request states (explorer.remediation_api.RequestState) and per-copy results.
REMEDIATION_STATUSES = frozenset({"Proposed", "Queued", "InProgress", "Completed", "Failed"})
REMEDIATION_RESULTS = frozenset(result.value for result in ActionResult)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_API_ROUTES = 64

# -- buckets ------------------------------------------------------------------------------
BATCH_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
WRITE_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# 1.0 is a bucket bound on purpose: the freshness SLO (p99 <= 1 s) is read off it.
FRESHNESS_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
API_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class BatchHistogram:
    """A histogram observed a batch at a time: `observe_many` costs one tally of the batch plus a
    bisect per *distinct* value, instead of a locked `Histogram.observe` per event (1.4 µs each,
    a few percent of a core at the target rate). Exposed like any prometheus_client histogram."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]):
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(sorted(buckets))
        self._lock = threading.Lock()
        self._counts = [0] * (len(self.bounds) + 1)  # last slot: above every bound (+Inf only)
        self._sum = 0.0

    def observe_many(self, values: Iterable[float]) -> None:
        tally = Tally(values)
        if not tally:
            return
        slots = [(bisect_left(self.bounds, value), value * n, n) for value, n in tally.items()]
        with self._lock:
            for slot, weighted, n in slots:
                self._counts[slot] += n
                self._sum += weighted

    def describe(self):
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self):
        with self._lock:
            counts, total_sum = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, float("inf")), counts):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total_sum)


# -- the metrics ----------------------------------------------------------------------------
disable_created_metrics()  # no `_created` series next to every counter: half the series, no use here
EVENTS_CONSUMED = Counter(
    "inboxtrail_events_consumed", "Records the worker took from mailflow.events (valid or not).")
EVENTS_PROJECTED = Counter(
    "inboxtrail_events_projected", "Events durably written to the projections, by event type.", ["type"])
DEAD_LETTERS = Counter(
    "inboxtrail_dead_letters", "Records sent to the dead-letter topic, by reason.", ["reason"])
BATCH_SIZE = Histogram(
    "inboxtrail_batch_size_events", "Records per batch taken by the projection agent.",
    buckets=BATCH_SIZE_BUCKETS)
STORE_WRITE_SECONDS = Histogram(
    "inboxtrail_store_write_seconds", "Duration of one batch write attempt to a store (success or not).",
    ["store"], buckets=WRITE_SECONDS_BUCKETS)
STORE_WRITE_FAILURES = Counter(
    "inboxtrail_store_write_failures", "Batch write attempts that failed (the writer retries them).", ["store"])
PARTITION_RESEEKS = Counter(
    "inboxtrail_partition_reseeks", "Partitions sought back to their committed offset because an event there was "
    "dropped unacknowledged and held the commit (streams/faust_offsets.py).")
WRITER_READY = Gauge(
    "inboxtrail_writer_ready", "1 while the store writer succeeds, 0 while its writes fail.")
PROJECTION_FRESHNESS = BatchHistogram(
    "inboxtrail_projection_freshness_seconds",
    "Seconds from an event's Kafka record timestamp to its rows being durably written.",
    FRESHNESS_SECONDS_BUCKETS)
REGISTRY.register(PROJECTION_FRESHNESS)
CONSUMER_LAG = Gauge(
    "inboxtrail_consumer_lag_events", "Records in mailflow.events not yet consumed, per assigned partition.",
    ["partition"])
REMEDIATION_REQUESTS = Counter(
    "inboxtrail_remediation_requests", "Remediation requests entering a status.", ["status"])
REMEDIATION_COPIES = Counter(
    "inboxtrail_remediation_copies", "Email copies a remediation acted on, by result.", ["result"])
API_REQUESTS = Counter(
    "inboxtrail_api_requests", "HTTP requests served by the API.", ["route", "method", "status"])
API_REQUEST_SECONDS = Histogram(
    "inboxtrail_api_request_seconds", "HTTP request duration in the API.", ["route", "method"],
    buckets=API_SECONDS_BUCKETS)

WRITER_READY.set(1)
# Series of the known label values exist from the start at 0, so the first increment shows in
# rate() and a dashboard lists every event type before it is seen.
for _label in EVENT_TYPES:
    EVENTS_PROJECTED.labels(_label)
for _label in REMEDIATION_STATUSES:
    REMEDIATION_REQUESTS.labels(_label)
for _label in REMEDIATION_RESULTS:
    REMEDIATION_COPIES.labels(_label)

_api_routes: set[str] = set()
_api_routes_lock = threading.Lock()


def _bounded(value: object, known: frozenset[str]) -> str:
    text = str(value)
    return text if text in known else OTHER


def _api_route(route: str) -> str:
    """The route template as a label, or `other` once `MAX_API_ROUTES` distinct routes are taken
    (a caller passing raw paths with ids would otherwise create a series per id)."""
    if route in _api_routes:
        return route
    with _api_routes_lock:
        if len(_api_routes) < MAX_API_ROUTES:
            _api_routes.add(route)
            return route
    return OTHER


# -- worker ---------------------------------------------------------------------------------
def observe_batch(size: int) -> None:
    """A batch of `size` records was taken from Kafka."""
    EVENTS_CONSUMED.inc(size)
    BATCH_SIZE.observe(size)


def count_projected(types: Iterable[str]) -> None:
    """Events whose rows are now durable, given by their event types (`MailFlowEvent.type`)."""
    for event_type, n in Tally(types).items():
        EVENTS_PROJECTED.labels(_bounded(event_type, EVENT_TYPES)).inc(n)


def count_reseek() -> None:
    PARTITION_RESEEKS.inc()


def count_dead_letter(reason: str) -> None:
    DEAD_LETTERS.labels(_bounded(reason, DEAD_LETTER_REASONS)).inc()


def observe_write(store: str, seconds: float, ok: bool) -> None:
    """One write attempt of a batch to `store` (`clickhouse` or `chdb`) took `seconds`."""
    label = _bounded(store, STORES)
    STORE_WRITE_SECONDS.labels(label).observe(seconds)
    if not ok:
        STORE_WRITE_FAILURES.labels(label).inc()


def set_writer_ready(ready: bool) -> None:
    WRITER_READY.set(1 if ready else 0)


def observe_freshness(record_timestamps_s: Iterable[float | None], now_s: float) -> None:
    """The records of a batch were durably written at `now_s`; their Kafka record timestamps
    are `record_timestamps_s`. Both are seconds since the epoch, as Faust's `message.timestamp`
    and `time.time()` give them. Records without a timestamp are skipped; a timestamp ahead of
    `now_s` (producer clock skew) counts as 0 s."""
    PROJECTION_FRESHNESS.observe_many(
        max(0.0, now_s - timestamp) for timestamp in record_timestamps_s if timestamp is not None)


def set_lag(partition: int, lag: int) -> None:
    """Records between this worker's position and the end of `partition` of mailflow.events."""
    CONSUMER_LAG.labels(str(int(partition))).set(max(0, lag))


def forget_lag(partitions: Iterable[int]) -> None:
    """Drop the lag series of partitions this worker no longer owns (after a rebalance), so a
    stale value does not keep an alert firing."""
    for partition in partitions:
        try:
            CONSUMER_LAG.remove(str(int(partition)))
        except KeyError:
            pass


# -- remediation ----------------------------------------------------------------------------
def count_remediation_request(status: str) -> None:
    """A remediation request entered `status` (Proposed, Queued, InProgress, Completed, Failed)."""
    REMEDIATION_REQUESTS.labels(_bounded(status, REMEDIATION_STATUSES)).inc()


def count_remediation_copies(result: str, copies: int = 1) -> None:
    """`copies` email copies got `result` (an ActionResult symbol) from a remediation."""
    REMEDIATION_COPIES.labels(_bounded(result, REMEDIATION_RESULTS)).inc(copies)


# -- API ------------------------------------------------------------------------------------
def observe_api_request(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request. `route` is the matched route *template* (`/api/v1/emails/{id}`), never
    the raw path; pass `unmatched` for requests no route matched."""
    route_label = _api_route(route)
    method_label = _bounded(method.upper(), HTTP_METHODS)
    status_label = str(status) if isinstance(status, int) and 100 <= status <= 599 else OTHER
    API_REQUESTS.labels(route_label, method_label, status_label).inc()
    API_REQUEST_SECONDS.labels(route_label, method_label).observe(seconds)


# The classic text format every Prometheus reads. No charset parameter: the format is always
# UTF-8, and aiohttp (Faust's web server) refuses a charset inside `content_type`.
CONTENT_TYPE = "text/plain; version=0.0.4"


def render_latest() -> tuple[bytes, str]:
    """The body and Content-Type of a `/metrics` response (Prometheus text format 0.0.4)."""
    return generate_latest(REGISTRY), CONTENT_TYPE


COLLECTORS = (EVENTS_CONSUMED, EVENTS_PROJECTED, DEAD_LETTERS, BATCH_SIZE, STORE_WRITE_SECONDS, STORE_WRITE_FAILURES,
              PARTITION_RESEEKS,
              WRITER_READY, PROJECTION_FRESHNESS, CONSUMER_LAG, REMEDIATION_REQUESTS, REMEDIATION_COPIES, API_REQUESTS,
              API_REQUEST_SECONDS)


def metric_families() -> dict[str, str]:
    """Family name → type (counter, gauge, histogram) of every inboxtrail metric. A family's
    series are exposed as `<name>_total` (counter), `<name>` (gauge) or `<name>_bucket`,
    `_sum`, `_count` (histogram). For checks of alert rules and dashboards."""
    return {family.name: family.type for collector in COLLECTORS for family in collector.describe()}


def metric_names() -> frozenset[str]:
    return frozenset(metric_families())
