"""Metric names, labels and their bounds, as a Prometheus scrape of `/metrics` sees them.

Metrics live in the process-wide default registry, so each test reads the change it causes."""
import random
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from schemas.events import PAYLOAD_TYPES
from streams import metrics

REPO = Path(__file__).resolve().parents[2]

EXPECTED = {
    "inboxtrail_events_consumed": ("counter", set()),
    "inboxtrail_events_projected": ("counter", {"type"}),
    "inboxtrail_dead_letters": ("counter", {"reason"}),
    "inboxtrail_batch_size_events": ("histogram", set()),
    "inboxtrail_store_write_seconds": ("histogram", {"store"}),
    "inboxtrail_store_write_failures": ("counter", {"store"}),
    "inboxtrail_partition_reseeks": ("counter", set()),
    "inboxtrail_writer_ready": ("gauge", set()),
    "inboxtrail_projection_freshness_seconds": ("histogram", set()),
    "inboxtrail_consumer_lag_events": ("gauge", {"partition"}),
    "inboxtrail_remediation_requests": ("counter", {"status"}),
    "inboxtrail_remediation_copies": ("counter", {"result"}),
    "inboxtrail_api_requests": ("counter", {"route", "method", "status"}),
    "inboxtrail_api_request_seconds": ("histogram", {"route", "method"}),
}


def scrape() -> dict:
    body, content_type = metrics.render_latest()
    assert content_type.startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(body.decode())
            if family.name.startswith("inboxtrail_")}


def value(name: str, **labels) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def label_values(family_name: str, label: str) -> set[str]:
    return {sample.labels[label] for sample in scrape()[family_name].samples if label in sample.labels}


def test_every_metric_is_exposed_with_its_type_and_labels():
    # given one observation of each kind, so labelled families have samples
    metrics.observe_batch(1)
    metrics.observe_write("clickhouse", 0.01, ok=False)
    metrics.count_dead_letter("truncated")
    metrics.set_lag(0, 3)
    metrics.observe_freshness([100.0], 100.5)
    metrics.count_remediation_request("Queued")
    metrics.count_remediation_copies("Success")
    metrics.observe_api_request("/api/v1/emails", "GET", 200, 0.02)
    # when scraped
    families = scrape()
    # then the names, types and label names are the documented ones
    assert metrics.metric_names() == set(EXPECTED)
    for name, (kind, labels) in EXPECTED.items():
        assert families[name].type == kind, name
        seen = {key for sample in families[name].samples for key in sample.labels} - {"le"}
        assert seen == labels, name


def test_helpers_count_what_happened():
    # given the current values
    consumed = value("inboxtrail_events_consumed_total")
    zaps = value("inboxtrail_events_projected_total", type="ZapMoved")
    deliveries = value("inboxtrail_events_projected_total", type="OriginalDelivery")
    failures = value("inboxtrail_store_write_failures_total", store="chdb")
    writes = value("inboxtrail_store_write_seconds_count", store="chdb")
    fresh_under_1s = value("inboxtrail_projection_freshness_seconds_bucket", le="1.0")
    fresh_all = value("inboxtrail_projection_freshness_seconds_count")
    # when a batch of 5 is consumed, projected, written once after one failed attempt, and is fresh
    metrics.observe_batch(5)
    metrics.count_projected(iter(["OriginalDelivery", "OriginalDelivery", "ZapMoved", "OriginalDelivery", "ZapMoved"]))
    metrics.observe_write("chdb", 0.3, ok=False)
    metrics.observe_write("chdb", 0.1, ok=True)
    metrics.set_writer_ready(False)
    ready_while_failing = value("inboxtrail_writer_ready")
    metrics.set_writer_ready(True)
    metrics.observe_freshness([1000.0, 1000.0, 999.9, None, 998.0, 1001.0], now_s=1000.5)
    # then
    assert value("inboxtrail_events_consumed_total") == consumed + 5
    assert value("inboxtrail_events_projected_total", type="OriginalDelivery") == deliveries + 3
    assert value("inboxtrail_events_projected_total", type="ZapMoved") == zaps + 2
    assert value("inboxtrail_store_write_failures_total", store="chdb") == failures + 1
    assert value("inboxtrail_store_write_seconds_count", store="chdb") == writes + 2
    assert (ready_while_failing, value("inboxtrail_writer_ready")) == (0.0, 1.0)
    # ages 0.5, 0.5, 0.6, 2.5 and 0 (a record stamped after `now`); the one without a stamp is skipped
    assert value("inboxtrail_projection_freshness_seconds_count") == fresh_all + 5
    assert value("inboxtrail_projection_freshness_seconds_bucket", le="1.0") == fresh_under_1s + 4


def test_lag_is_per_partition_and_forgotten_after_a_rebalance():
    metrics.set_lag(4, 120)
    metrics.set_lag(5, -3)  # a position past a stale high-water mark is no lag
    assert value("inboxtrail_consumer_lag_events", partition="4") == 120
    assert value("inboxtrail_consumer_lag_events", partition="5") == 0
    metrics.forget_lag([4, 5, 99])
    assert not {"4", "5"} & label_values("inboxtrail_consumer_lag_events", "partition")


@pytest.fixture
def fresh_api_routes(monkeypatch):
    """The flood below must not use up the route slots (or leave its series) for later tests."""
    monkeypatch.setattr(metrics, "_api_routes", set())
    metrics.API_REQUESTS.clear()
    metrics.API_REQUEST_SECONDS.clear()
    yield
    metrics.API_REQUESTS.clear()
    metrics.API_REQUEST_SECONDS.clear()


def test_label_values_stay_bounded_whatever_callers_pass(fresh_api_routes):
    # given a flood of values no one planned for
    rng = random.Random(1)
    junk = [f"{rng.getrandbits(64):x}" for _ in range(500)]
    for text in junk:
        metrics.count_dead_letter(text)
        metrics.count_projected([text])
        metrics.observe_write(text, 0.001, ok=False)
        metrics.count_remediation_request(text)
        metrics.count_remediation_copies(text)
        metrics.observe_api_request(f"/api/v1/emails/{text}", text, rng.randrange(-5, 1000), 0.001)
    # then every label holds known values or `other`, and routes are capped
    assert label_values("inboxtrail_dead_letters", "reason") <= metrics.DEAD_LETTER_REASONS | {"other"}
    assert label_values("inboxtrail_events_projected", "type") == set(PAYLOAD_TYPES) | {"other"}
    assert label_values("inboxtrail_store_write_failures", "store") <= metrics.STORES | {"other"}
    assert label_values("inboxtrail_remediation_requests", "status") == metrics.REMEDIATION_STATUSES | {"other"}
    assert label_values("inboxtrail_remediation_copies", "result") == metrics.REMEDIATION_RESULTS | {"other"}
    assert label_values("inboxtrail_api_requests", "method") <= metrics.HTTP_METHODS | {"other"}
    assert len(label_values("inboxtrail_api_requests", "route")) <= metrics.MAX_API_ROUTES + 1
    assert all(s == "other" or 100 <= int(s) <= 599 for s in label_values("inboxtrail_api_requests", "status"))


def test_dead_letter_reasons_are_those_the_codec_and_validation_raise():
    # the reason labels raised by decoding and validation, read off their source (quoted either
    # way: the codec also raises from code it generates)
    raised = set()
    for path in ("schemas/codec.py", "schemas/validation.py"):
        source = (REPO / path).read_text()
        raised |= set(re.findall(r"""(?:CodecError|ValidationError)\(\s*["']([a-z_]+)["']""", source))
    encode_only = {"invalid_field", "unknown_wire_format"}
    assert len(raised) > 15
    assert raised - encode_only <= metrics.DEAD_LETTER_REASONS


@given(st.lists(st.one_of(st.floats(min_value=0, max_value=2000, allow_nan=False),
                          st.sampled_from(list(metrics.FRESHNESS_SECONDS_BUCKETS))), max_size=60))
def test_batch_histogram_agrees_with_prometheus_clients_histogram(ages):
    # given the same observations made one by one and as a batch
    reference = Histogram("reference_seconds", "r", buckets=metrics.FRESHNESS_SECONDS_BUCKETS,
                          registry=CollectorRegistry())
    for age in ages:
        reference.observe(age)
    batched = metrics.BatchHistogram("batched_seconds", "b", metrics.FRESHNESS_SECONDS_BUCKETS)
    batched.observe_many(ages)
    # then bucket counts and sums agree
    expected = {s.labels["le"]: s.value for s in next(iter(reference.collect())).samples if s.name.endswith("_bucket")}
    family = next(iter(batched.collect()))
    got = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert got == expected
    sums = [s.value for s in family.samples if s.name.endswith("_sum")]
    assert abs(sums[0] - sum(ages)) < 1e-6 * max(1.0, sum(ages))


def test_the_metrics_response_suits_the_workers_web_server():
    # Faust serves /metrics through aiohttp, which refuses a charset inside content_type
    from aiohttp import web
    body, content_type = metrics.render_latest()
    response = web.Response(body=body, content_type=content_type)
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4"
