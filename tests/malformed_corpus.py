"""Malformed messages for the events topic, each with the reason a worker must give it.

`CORPUS` is a list of `(name, raw_bytes, expected_reason)`: `expected_reason` is the `reason` that
`schemas.codec.classify` returns for `raw_bytes` (decode, then validate), and `EXPECTED_FIELDS`
names the field it reports where there is one. Unit tests check every entry; the contract tests
push the same bytes through the real broker and expect each on the dead-letter topic with that
reason. Every entry is malformed for any clock later than 2026-12-04 and before the year 3000.

Built from one valid event per kind, so each entry breaks exactly one thing:
* framing: empty, garbage, bad magic, unknown fingerprint or Confluent id, short headers;
* body: truncation at several points, trailing bytes, invalid UTF-8, negative and overlong
  varints, an array count larger than the message, an enum index or union branch that the writer
  schema does not have (written with a crafted writer schema framed as the current one);
* meaning (validation): blank, invalid and non-canonical ids, bad tenant ids and recipients,
  times before 2000 or in the far future, oversized strings and arrays, negative sizes.
"""
from __future__ import annotations

import copy
import dataclasses
import io

import fastavro

from schemas.catalog import NAMESPACE, load_catalog, named_types, without_logical_types
from schemas.codec import SINGLE_OBJECT_MAGIC, encode
from schemas.events import (
    ActionResult, AdminAction, AdminActionKind, DeliveryAction, DeliveryLocation, DetectionMethod,
    Direction, EventSource, MailFlowEvent, OriginalDelivery, Sender, ThreatType, Url,
)
from schemas.validation import MAX_STRING_CHARS, MAX_SUBJECT_CHARS, MAX_URLS
from tests.strategies import avro_record

CURRENT = load_catalog().current

DELIVERY = MailFlowEvent(
    event_id="0b8e6a1c-2f3d-4e5f-8a9b-0c1d2e3f4a5b", tenant_id="contoso",
    network_message_id="5f0c1d2e-3f4a-4b5c-9d6e-7f8091a2b3c4", recipient="alice@contoso.com",
    occurred_at=1_764_843_330_123_456,  # 2025-12-04T10:15:30.123456Z
    source=EventSource.System,
    payload=OriginalDelivery(
        internet_message_id="<CAF1.2@fabrikam.example>", direction=Direction.Inbound,
        sender=Sender("bounce@fabrikam.example", "billing@fabrikam.example", "Fabrikam", "203.0.113.45"),
        subject="SUBJ invoice", delivery_action=DeliveryAction.Delivered,
        delivery_location=DeliveryLocation.Inbox, threat_types=(ThreatType.Phish,),
        detection_methods=(DetectionMethod.UrlDetonation,),
        urls=(Url("https://fabrikam.example/pay", "fabrikam.example"),), size_bytes=48213))
ADMIN = dataclasses.replace(DELIVERY, event_id="7d2f0c1e-1a2b-4c3d-8e4f-5a6b7c8d9e0f", source=EventSource.Admin,
                            payload=AdminAction(AdminActionKind.SoftDelete, "admin@contoso.com",
                                                "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", ActionResult.Success))

VALID = encode(DELIVERY)
BODY = VALID[10:]
HEADER = VALID[:10]


def _envelope(**changes) -> bytes:
    return encode(dataclasses.replace(DELIVERY, **changes))


def _payload(**changes) -> bytes:
    return _envelope(payload=dataclasses.replace(DELIVERY.payload, **changes))


def _crafted_writer(change, record: dict) -> bytes:
    """`record` written with a copy of the current schema altered by `change`, but framed with
    the current fingerprint: a producer that claims the current schema and breaks it."""
    schema = copy.deepcopy(CURRENT.schema)
    change(schema, named_types(schema))
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(without_logical_types(schema)), record)
    return SINGLE_OBJECT_MAGIC + CURRENT.fingerprint + body.getvalue()


def _extra_source(schema: dict, named: dict) -> None:
    named["EventSource"]["symbols"].append("Robot")


def _extra_payload(schema: dict, named: dict) -> None:
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    payload["type"].append({"type": "record", "name": "Unheard", "fields": []})


_AT_RECIPIENT = BODY.index(b"alice@")
_AT_SUBJECT = BODY.index(b"SUBJ")
_AT_URL_COUNT = BODY.index(b"https://") - 2  # array count, then the url's length

CORPUS: list[tuple[str, bytes, str]] = [
    # framing
    ("empty", b"", "empty"),
    ("garbage_text", b"hello, world", "bad_magic"),
    ("json_instead_of_avro", b'{"event_id": "0b8e6a1c"}', "bad_magic"),
    ("single_byte_c3", b"\xc3", "truncated"),
    ("wrong_second_magic_byte", b"\xc3\x02" + VALID[2:], "bad_magic"),
    ("avro_container_file_magic", b"Obj\x01" + BODY, "bad_magic"),
    ("single_object_header_cut", VALID[:6], "truncated"),
    ("unknown_fingerprint", SINGLE_OBJECT_MAGIC + b"\x01\x02\x03\x04\x05\x06\x07\x08" + BODY, "unknown_fingerprint"),
    ("confluent_unknown_schema_id", b"\x00\x00\x00\x00\x63" + BODY, "unknown_schema_id"),
    ("confluent_header_cut", b"\x00\x00\x00", "truncated"),
    ("random_bytes", bytes(range(7, 250, 3)), "bad_magic"),
    # body
    ("header_only", HEADER, "truncated"),
    ("cut_in_event_id", VALID[:20], "truncated"),
    ("cut_in_recipient", HEADER + BODY[:_AT_RECIPIENT + 3], "truncated"),
    ("cut_in_subject", HEADER + BODY[:_AT_SUBJECT + 2], "truncated"),
    ("cut_before_last_byte", VALID[:-1], "truncated"),
    ("trailing_byte", VALID + b"\x00", "trailing_bytes"),
    ("invalid_utf8_subject", HEADER + BODY[:_AT_SUBJECT] + b"\xff\xfe\xfd\xfc" + BODY[_AT_SUBJECT + 4:], "bad_utf8"),
    ("negative_string_length", HEADER + b"\x01" + BODY[1:], "bad_body"),
    ("overlong_varint", HEADER + b"\xff" * 11 + BODY[1:], "bad_body"),
    ("array_count_beyond_message", HEADER + BODY[:_AT_URL_COUNT] + b"\xfe\xff\xff\x0f" + BODY[_AT_URL_COUNT + 1:],
     "truncated"),
    ("unknown_enum_symbol_source", _crafted_writer(_extra_source, avro_record(DELIVERY) | {"source": "Robot"}),
     "unknown_enum_symbol"),
    ("unknown_payload_branch",
     _crafted_writer(_extra_payload, avro_record(DELIVERY) | {"payload": (f"{NAMESPACE}.Unheard", {})}),
     "unknown_payload_type"),
    # meaning
    ("blank_event_id", _envelope(event_id=""), "blank"),
    ("event_id_not_uuid", _envelope(event_id="evt-42"), "not_uuid"),
    ("event_id_upper_case", _envelope(event_id=DELIVERY.event_id.upper()), "not_uuid"),
    ("blank_network_message_id", _envelope(network_message_id=""), "blank"),
    ("network_message_id_not_uuid", _envelope(network_message_id="<CAF1.2@fabrikam.example>"), "not_uuid"),
    ("blank_tenant_id", _envelope(tenant_id=""), "blank"),
    ("tenant_id_with_spaces", _envelope(tenant_id="Contoso Ltd"), "bad_tenant_id"),
    ("blank_recipient", _envelope(recipient="   "), "blank"),
    ("recipient_without_at", _envelope(recipient="alice.contoso.com"), "bad_address"),
    ("occurred_at_epoch_zero", _envelope(occurred_at=0), "too_early"),
    ("occurred_at_in_seconds", _envelope(occurred_at=1_764_843_330), "too_early"),
    ("occurred_at_year_3000", _envelope(occurred_at=32_503_680_000_000_000), "too_late"),
    ("oversized_subject", _payload(subject="x" * (MAX_SUBJECT_CHARS + 1)), "too_long"),
    ("oversized_display_name", _payload(sender=dataclasses.replace(DELIVERY.payload.sender,
                                                                   display_name="y" * (MAX_STRING_CHARS + 1))), "too_long"),
    ("too_many_urls", _payload(urls=DELIVERY.payload.urls * (MAX_URLS + 1)), "too_many"),
    ("negative_size", _payload(size_bytes=-1), "negative"),
    ("admin_action_without_request_id", encode(dataclasses.replace(ADMIN, payload=dataclasses.replace(
        ADMIN.payload, request_id=""))), "blank"),
]

EXPECTED_FIELDS: dict[str, str] = {
    "cut_in_event_id": "event_id",
    "cut_in_recipient": "recipient",
    "cut_in_subject": "payload.subject",
    "invalid_utf8_subject": "payload.subject",
    "negative_string_length": "event_id",
    "overlong_varint": "event_id",
    "array_count_beyond_message": "payload.urls",
    "unknown_enum_symbol_source": "source",
    "unknown_payload_branch": "payload",
    "blank_event_id": "event_id",
    "network_message_id_not_uuid": "network_message_id",
    "tenant_id_with_spaces": "tenant_id",
    "blank_recipient": "recipient",
    "occurred_at_year_3000": "occurred_at",
    "oversized_subject": "payload.subject",
    "oversized_display_name": "payload.sender.display_name",
    "too_many_urls": "payload.urls",
    "negative_size": "payload.size_bytes",
    "admin_action_without_request_id": "payload.request_id",
}
