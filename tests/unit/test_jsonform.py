"""JSON form: lossless round trips through Avro, timestamp normalisation, and precise errors."""
from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import decode, encode
from schemas.jsonform import event_from_json, event_to_json, format_timestamp, parse_timestamp
from schemas.validation import ValidationError
from tests.malformed_corpus import ADMIN, DELIVERY
from tests.strategies import FIXED_CLOCK, PAYLOADS, events

DELIVERY_JSON = event_to_json(DELIVERY)


@given(event=events(), wire=st.sampled_from(["single-object", "confluent"]))
def test_json_to_event_to_avro_to_event_to_json_round_trips(event, wire):
    # given the JSON form of a valid event
    as_json = event_to_json(event)
    # when it is ingested, encoded, decoded and exported again
    ingested = event_from_json(as_json, clock=FIXED_CLOCK)
    exported = event_to_json(decode(encode(ingested, wire)))
    # then nothing was lost or changed on the way
    assert ingested == event
    assert exported == as_json


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@given(data=st.data())
def test_every_event_kind_round_trips_through_json(kind, data):
    event = data.draw(events(PAYLOADS[kind]))
    as_json = event_to_json(event)
    assert as_json["type"] == kind
    assert event_from_json(as_json, clock=FIXED_CLOCK) == event


def test_json_form_matches_the_design_document():
    assert DELIVERY_JSON["occurred_at"] == "2025-12-04T10:15:30.123456Z"
    assert DELIVERY_JSON["type"] == "OriginalDelivery"
    assert DELIVERY_JSON["source"] == "System" and type(DELIVERY_JSON["source"]) is str
    assert DELIVERY_JSON["payload"]["sender"]["ip"] == "203.0.113.45"
    assert DELIVERY_JSON["payload"]["threat_types"] == ["Phish"]


@pytest.mark.parametrize(("text", "micros"), [
    ("2025-12-04T10:15:30.123456Z", 1_764_843_330_123_456),
    ("2025-12-04T10:15:30.123Z", 1_764_843_330_123_000),
    ("2025-12-04T10:15:30Z", 1_764_843_330_000_000),
    ("2025-12-04T11:15:30.1234567+01:00", 1_764_843_330_123_456),
    ("2025-12-04t05:15:30.5-05:00", 1_764_843_330_500_000),
])
def test_timestamps_with_fewer_digits_or_offsets_normalise_to_utc_micros(text, micros):
    assert parse_timestamp(text) == micros


def test_timestamps_are_written_in_utc_with_six_digits():
    assert format_timestamp(1_764_843_330_000_000) == "2025-12-04T10:15:30.000000Z"


@given(micros=st.integers(0, 253_402_300_799_999_999))
def test_timestamp_text_round_trips(micros):
    assert parse_timestamp(format_timestamp(micros)) == micros


def test_ingest_normalises_addresses():
    shouting = DELIVERY_JSON | {"recipient": " Alice@CONTOSO.com"}
    assert event_from_json(shouting).recipient == "alice@contoso.com"


def test_fields_with_avro_defaults_may_be_left_out():
    sparse = copy.deepcopy(event_to_json(ADMIN))
    del sparse["payload"]["reason"]
    assert event_from_json(sparse) == ADMIN


def _broken(path: str, value: object) -> dict:
    """DELIVERY_JSON with the field at dotted `path` set to `value`, or removed if `value` is ..."""
    obj = copy.deepcopy(DELIVERY_JSON)
    *parents, last = path.split(".")
    target = obj
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return obj


@pytest.mark.parametrize(("path", "value", "reason"), [
    ("payload.sender.ip", 3, "wrong_type"),
    ("payload.sender.ip", ..., "missing"),
    ("payload.sender", "spoofed", "wrong_type"),
    ("payload.size_bytes", True, "wrong_type"),
    ("payload.urls", {"url": "x"}, "wrong_type"),
    ("payload.delivery_location", "Attic", "unknown_enum_symbol"),
    ("payload.colour", "red", "unknown_field"),
    ("source", "Robot", "unknown_enum_symbol"),
    ("type", "Teleported", "unknown_enum_symbol"),
    ("type", ..., "missing"),
    ("payload", ..., "missing"),
    ("event_id", ..., "missing"),
    ("occurred_at", "yesterday", "bad_timestamp"),
    ("occurred_at", "2025-12-04T10:15:30", "bad_timestamp"),
    ("occurred_at", "2025-02-30T10:15:30Z", "bad_timestamp"),
    ("occurred_at", 1764843330123456, "wrong_type"),
    ("event_id", "not-a-uuid", "not_uuid"),
    ("recipient", "nobody", "bad_address"),
])
def test_invalid_json_names_the_field_and_the_reason(path, value, reason):
    # when a broken JSON form is ingested from line 7 of a file
    with pytest.raises(ValidationError) as raised:
        event_from_json(_broken(path, value), line=7)
    # then the error says which field, why, and where
    assert (raised.value.field, raised.value.reason, raised.value.line) == (path, reason, 7)
    assert str(raised.value).startswith(f"line 7: {path}: ")


def test_unknown_symbol_error_lists_the_allowed_symbols():
    with pytest.raises(ValidationError) as raised:
        event_from_json(_broken("payload.delivery_action", "Teleported"))
    assert "Delivered, Junked, Blocked, Replaced, Unknown" in str(raised.value)


def test_array_item_errors_carry_the_index():
    with pytest.raises(ValidationError) as raised:
        event_from_json(_broken("payload.urls", [{"url": "https://a.example/", "domain": 5}]))
    assert raised.value.field == "payload.urls[0].domain"


def test_non_object_input_is_rejected():
    with pytest.raises(ValidationError) as raised:
        event_from_json(["not", "an", "event"])
    assert raised.value.reason == "wrong_type"
