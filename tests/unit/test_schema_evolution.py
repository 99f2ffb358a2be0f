"""Released schema versions stay BACKWARD and FORWARD compatible, and old bytes stay readable."""
from __future__ import annotations

import copy
import io

import fastavro
import pytest
from hypothesis import given, settings

from schemas.catalog import (
    SchemaVersion, incompatibilities, load_catalog, named_types, rabin_fingerprint, without_logical_types,
)
from schemas.codec import SINGLE_OBJECT_MAGIC, Codec
from schemas.events import EventSource, ThreatType
from schemas.jsonform import event_to_json
from tests.strategies import avro_record, events, original_deliveries

CATALOG = load_catalog()


def _write(version: SchemaVersion, record: dict) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(without_logical_types(version.schema)), record)
    return SINGLE_OBJECT_MAGIC + version.fingerprint + body.getvalue()


def _candidate_v2() -> dict:
    """A compatible next version: a new optional field and a new threat type and source."""
    schema = copy.deepcopy(CATALOG.current.schema)
    named = named_types(schema)
    schema["fields"].insert(4, {"name": "sender_domain_age_days", "type": "long", "default": -1})
    named["ThreatType"]["symbols"].insert(4, "Scam")
    named["EventSource"]["symbols"].insert(3, "Automation")
    return schema


def test_rabin_fingerprint_matches_the_avro_specification_and_fastavro():
    assert rabin_fingerprint('"null"') == (7195948357588979594).to_bytes(8, "little")
    expected = fastavro.schema.fingerprint(CATALOG.current.canonical_form, "CRC-64-AVRO")
    assert CATALOG.current.fingerprint.hex() == expected


def test_v1_is_released_and_the_current_schema_is_compatible_with_every_release():
    assert [v.label for v in CATALOG.released][0] == "v1"
    assert incompatibilities(CATALOG.current.schema, list(CATALOG.released)) == []


@pytest.mark.parametrize("index", range(len(CATALOG.released)))
def test_every_release_is_backward_and_forward_compatible_with_every_earlier_one(index):
    release = CATALOG.released[index]
    assert incompatibilities(release.schema, list(CATALOG.released[:index])) == []


def test_removing_a_field_without_default_is_detected_as_breaking():
    # given a candidate that drops `recipient`, which has no default
    candidate = copy.deepcopy(CATALOG.current.schema)
    candidate["fields"] = [f for f in candidate["fields"] if f["name"] != "recipient"]
    # when it is checked against the releases
    problems = incompatibilities(candidate, list(CATALOG.released))
    # then old readers could not read its bytes
    assert any(p.startswith("FORWARD against v1") and "recipient" in p for p in problems)


def test_adding_a_field_without_default_is_detected_as_breaking():
    candidate = copy.deepcopy(CATALOG.current.schema)
    candidate["fields"].append({"name": "policy", "type": "string"})
    problems = incompatibilities(candidate, list(CATALOG.released))
    assert any(p.startswith("BACKWARD against v1") for p in problems)


def test_the_v2_candidate_used_below_is_itself_compatible():
    assert incompatibilities(_candidate_v2(), list(CATALOG.released)) == []


@settings(max_examples=50, deadline=None)
@given(event=events())
def test_bytes_written_by_every_released_version_decode_with_the_current_reader(event):
    record = avro_record(event)
    for version in CATALOG.released:
        # given bytes written by fastavro with a released schema
        data = _write(version, record)
        # when the current codec reads them
        decoded = Codec().decode(data)
        # then it reads the same event
        assert decoded == event, version.label


@settings(max_examples=30, deadline=None)
@given(event=events(original_deliveries))
def test_a_newer_writer_with_unknown_symbols_resolves_to_the_current_reader(event):
    # given bytes from a future version with a new field and symbols this reader does not know
    v2 = SchemaVersion.from_schema("v2", _candidate_v2())
    record = avro_record(event) | {"sender_domain_age_days": 12, "source": "Automation"}
    record["payload"][1]["threat_types"] = ["Scam", "Phish"]
    data = _write(v2, record)
    # when a reader that registered the v2 schema decodes them
    decoded = Codec(extra_writers=[v2.schema]).decode(data)
    # then the new field is dropped and new symbols read as the enum default
    assert decoded.source is EventSource.Unknown
    assert decoded.payload.threat_types == (ThreatType.Unknown, ThreatType.Phish)
    assert event_to_json(decoded)["payload"]["subject"] == event.payload.subject
