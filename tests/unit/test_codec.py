"""Avro codec: round trips in both wire formats, agreement with fastavro, and total decoding."""
from __future__ import annotations

import dataclasses
import io

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalog, without_logical_types
from schemas.codec import CONFLUENT_MAGIC, SINGLE_OBJECT_MAGIC, Codec, CodecError, decode, decode_many, encode
from schemas.events import EventSource, MailFlowEvent
from tests.malformed_corpus import DELIVERY, VALID
from tests.strategies import avro_record, events

CURRENT = load_catalog().current
PARSED = fastavro.parse_schema(without_logical_types(CURRENT.schema))


@given(event=events(), wire=st.sampled_from(["single-object", "confluent"]))
def test_decode_inverts_encode_in_both_wire_formats(event, wire):
    assert decode(encode(event, wire)) == event


@given(event=events())
def test_single_object_frame_is_magic_fingerprint_body_and_body_is_what_fastavro_writes(event):
    # given fastavro's own encoding of the event's record
    body = io.BytesIO()
    fastavro.schemaless_writer(body, PARSED, avro_record(event))
    # when our codec encodes the event
    data = encode(event)
    # then the frame is C3 01 + little-endian fingerprint + the identical body
    assert data == SINGLE_OBJECT_MAGIC + CURRENT.fingerprint + body.getvalue()


@given(event=events())
def test_decoded_event_equals_what_fastavro_reads(event):
    data = encode(event)
    record = fastavro.schemaless_reader(io.BytesIO(data[10:]), PARSED, None, return_record_name=True)
    assert record == avro_record(event)


def test_confluent_frame_carries_the_configured_schema_id():
    # given a codec whose current schema has Confluent id 42
    codec = Codec(confluent_ids={42: "v1"})
    # when it encodes in the Confluent format
    data = codec.encode(DELIVERY, wire="confluent")
    # then the frame is 00 + big-endian 42, and only a codec that maps 42 reads it
    assert data[:5] == CONFLUENT_MAGIC + (42).to_bytes(4, "big")
    assert codec.decode(data) == DELIVERY
    with pytest.raises(CodecError) as raised:
        decode(data)
    assert raised.value.reason == "unknown_schema_id"


def test_encode_normalises_addresses():
    shouting = dataclasses.replace(DELIVERY, recipient="  Alice@Contoso.COM ")
    assert decode(encode(shouting)).recipient == "alice@contoso.com"


def test_decode_normalises_addresses_written_by_other_producers():
    record = avro_record(DELIVERY) | {"recipient": "Alice@Contoso.com"}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, PARSED, record)
    assert decode(SINGLE_OBJECT_MAGIC + CURRENT.fingerprint + body.getvalue()).recipient == "alice@contoso.com"


@pytest.mark.parametrize(("change", "field"), [
    ({"source": "Robot"}, "source"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"tenant_id": None}, "tenant_id"),
    ({"payload": "not a payload"}, "payload"),
])
def test_encode_rejects_values_the_schema_cannot_hold(change, field):
    with pytest.raises(CodecError) as raised:
        encode(dataclasses.replace(DELIVERY, **change))
    assert (raised.value.reason, raised.value.field) == ("invalid_field", field)


def test_encode_rejects_an_unknown_wire_format():
    with pytest.raises(CodecError) as raised:
        encode(DELIVERY, wire="protobuf")
    assert raised.value.reason == "unknown_wire_format"


def test_decode_many_keeps_order_and_returns_errors_in_place():
    results = decode_many([VALID, b"", bytearray(VALID), b"junk"])
    assert results[0] == DELIVERY and results[2] == DELIVERY
    assert [r.reason for r in (results[1], results[3])] == ["empty", "bad_magic"]


def test_decode_rejects_what_is_not_bytes():
    with pytest.raises(CodecError) as raised:
        decode("C3 01")  # type: ignore[arg-type]
    assert raised.value.reason == "not_bytes"


def test_enum_fields_decode_to_their_members():
    assert decode(encode(DELIVERY)).source is EventSource.System


@settings(max_examples=300)
@given(data=st.binary(max_size=300))
def test_decode_of_arbitrary_bytes_raises_only_codec_error(data):
    try:
        decode(data)
    except CodecError as error:
        assert error.reason and isinstance(error.reason, str)


_FRAMES = [SINGLE_OBJECT_MAGIC + CURRENT.fingerprint, CONFLUENT_MAGIC + (1).to_bytes(4, "big")]


@settings(max_examples=500)
@given(header=st.sampled_from(_FRAMES), body=st.binary(max_size=300))
def test_arbitrary_bodies_behind_a_valid_header_raise_only_codec_error(header, body):
    [result] = decode_many([header + body])
    if isinstance(result, CodecError):
        assert result.reason in {"truncated", "bad_body", "bad_utf8", "unknown_enum_symbol",
                                 "unknown_payload_type", "trailing_bytes"}
    else:
        assert isinstance(result, MailFlowEvent)


@settings(max_examples=300)
@given(event=events(), position=st.integers(0, 10_000), byte=st.integers(0, 255), cut=st.booleans())
def test_mutated_or_cut_encodings_raise_only_codec_error(event, position, byte, cut):
    # given a valid encoding with one byte changed, or cut short
    data = bytearray(encode(event))
    position %= len(data)
    if cut:
        del data[position:]
    else:
        data[position] = byte
    # when it is decoded
    [result] = decode_many([bytes(data)])
    # then it is an event or a CodecError, and a strict prefix is always reported as cut short
    assert isinstance(result, (MailFlowEvent, CodecError))
    if cut:
        assert isinstance(result, CodecError) and result.reason in {"empty", "truncated"}
