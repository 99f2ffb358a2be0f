"""Hypothesis strategies for valid mail-flow events of every kind.

Every generated event passes `schemas.validation.validate` with `clock=FIXED_CLOCK`: ids are
canonical UUIDs, addresses are normalised, times fall in the accepted window and sizes stay under
the limits. Free-text fields use arbitrary Unicode (no surrogates, which UTF-8 cannot carry) so the
codecs see multi-byte characters, control characters and surrounding whitespace.
"""
from __future__ import annotations

from hypothesis import strategies as st

from schemas.events import (
    ActionResult, AdminAction, AdminActionKind, Attachment, DeliveryAction, DeliveryLocation,
    DetectionMethod, Direction, DynamicDelivery, EventSource, MailFlowEvent, OriginalDelivery,
    QuarantineReleased, Reprocessed, Sender, ThreatType, Url, ZapMoved, ZapType,
)
from schemas.catalog import NAMESPACE
from schemas.jsonform import event_to_json
from schemas.validation import EARLIEST_OCCURRED_AT

FIXED_NOW = 1_893_456_000_000_000  # 2030-01-01T00:00:00Z in microseconds


def FIXED_CLOCK() -> int:  # noqa: N802 - a constant clock, named like one
    return FIXED_NOW


uuids = st.uuids().map(str)
tenant_ids = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z")
_atoms = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
domains = st.lists(_atoms, min_size=1, max_size=3).map(".".join).map(lambda d: f"{d}.example")
addresses = st.builds(lambda local, domain: f"{local}@{domain}",
                      st.from_regex(r"\A[a-z0-9][a-z0-9._+-]{0,15}\Z"), domains)
texts = st.text(max_size=40)
occurred_ats = st.integers(EARLIEST_OCCURRED_AT, FIXED_NOW)
sizes = st.integers(0, 2**40)
locations = st.sampled_from(DeliveryLocation)
results = st.sampled_from(ActionResult)
threat_types = st.lists(st.sampled_from(ThreatType), max_size=4).map(tuple)
detection_methods = st.lists(st.sampled_from(DetectionMethod), max_size=4).map(tuple)

senders = st.builds(Sender, mail_from=st.one_of(st.just(""), addresses), from_address=addresses,
                    display_name=texts, ip=st.ip_addresses().map(str))
urls = st.builds(lambda domain, path: Url(f"https://{domain}/{path}", domain),
                 domains, st.text(alphabet="abcdefghij0123456789/?=&", max_size=30))
attachments = st.builds(Attachment, file_name=texts, file_type=st.sampled_from(["pdf", "docx", "zip", "html", ""]),
                        sha256=st.binary(min_size=32, max_size=32).map(bytes.hex), size=sizes)

original_deliveries = st.builds(
    OriginalDelivery,
    internet_message_id=st.builds(lambda local, domain: f"<{local}@{domain}>", _atoms, domains),
    direction=st.sampled_from(Direction), sender=senders, subject=texts,
    delivery_action=st.sampled_from(DeliveryAction), delivery_location=locations,
    threat_types=threat_types, detection_methods=detection_methods,
    urls=st.lists(urls, max_size=3).map(tuple), attachments=st.lists(attachments, max_size=3).map(tuple),
    size_bytes=sizes,
)
zap_moves = st.builds(ZapMoved, zap_type=st.sampled_from(ZapType), to_location=locations, result=results,
                      threat_types=threat_types)
admin_actions = st.builds(AdminAction, action=st.sampled_from(AdminActionKind), actor=addresses,
                          request_id=uuids, result=results, reason=texts)
quarantine_releases = st.builds(QuarantineReleased, actor=addresses, to_location=locations, result=results)
dynamic_deliveries = st.builds(DynamicDelivery, attachments_replaced=st.integers(0, 2**31 - 1),
                               to_location=locations, result=results)
reprocessings = st.builds(Reprocessed, threat_types=threat_types, detection_methods=detection_methods, reason=texts)

PAYLOADS = {
    "OriginalDelivery": original_deliveries,
    "ZapMoved": zap_moves,
    "AdminAction": admin_actions,
    "QuarantineReleased": quarantine_releases,
    "DynamicDelivery": dynamic_deliveries,
    "Reprocessed": reprocessings,
}


def events(payloads: st.SearchStrategy | None = None) -> st.SearchStrategy[MailFlowEvent]:
    """Valid events; of every kind unless `payloads` narrows it (e.g. `events(zap_moves)`)."""
    return st.builds(
        MailFlowEvent, event_id=uuids, tenant_id=tenant_ids, network_message_id=uuids,
        recipient=addresses, occurred_at=occurred_ats, source=st.sampled_from(EventSource),
        payload=payloads if payloads is not None else st.one_of(*PAYLOADS.values()),
    )


def avro_record(event: MailFlowEvent) -> dict:
    """The record fastavro writes for `event` (logical types stripped): the JSON form with the time
    in microseconds and the payload in fastavro's `(record name, fields)` union notation. Tests
    use it to produce bytes independently of `schemas.codec`'s own writer."""
    record = event_to_json(event)
    record["occurred_at"] = event.occurred_at
    record["payload"] = (f"{NAMESPACE}.{record.pop('type')}", record["payload"])
    return record
