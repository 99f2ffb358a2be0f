"""The Python types in `schemas.events` say exactly what the current `.avsc` says."""
from __future__ import annotations

import inspect
from dataclasses import MISSING, fields, is_dataclass
from enum import StrEnum

from schemas import events
from schemas.catalog import load_catalog, named_types

SCHEMA = load_catalog().current.schema
NAMED = named_types(SCHEMA)
AVRO_RECORDS = {s["name"]: s for s in NAMED.values() if s["type"] == "record"}
AVRO_ENUMS = {s["name"]: s for s in NAMED.values() if s["type"] == "enum"}
PY_RECORDS = {n: c for n, c in vars(events).items() if inspect.isclass(c) and is_dataclass(c)}
PY_ENUMS = {n: c for n, c in vars(events).items()
            if inspect.isclass(c) and issubclass(c, StrEnum) and c is not StrEnum}


def _annotation(schema) -> str:
    """The annotation `schemas.events` must use for a field of this Avro type."""
    schema = NAMED.get(schema, schema) if isinstance(schema, str) else schema
    if isinstance(schema, list):
        return "Payload"
    kind = schema if isinstance(schema, str) else schema["type"]
    if kind == "array":
        return f"tuple[{_annotation(schema['items'])}, ...]"
    if kind in ("record", "enum"):
        return schema["name"]
    return {"string": "str", "long": "int", "int": "int"}[kind]


def test_record_and_enum_sets_are_the_same():
    assert set(AVRO_RECORDS) == set(PY_RECORDS)
    assert set(AVRO_ENUMS) == set(PY_ENUMS)


def test_fields_have_the_same_names_order_types_and_defaults():
    for name, record in AVRO_RECORDS.items():
        # given the Avro record and the dataclass of the same name
        py_fields = fields(PY_RECORDS[name])
        # then they list the same fields in the same order
        assert [f.name for f in py_fields] == [f["name"] for f in record["fields"]], name
        for py, avro in zip(py_fields, record["fields"]):
            assert py.type == _annotation(avro["type"]), f"{name}.{py.name}"
            # and a field has a default in one exactly when in the other, and the same one
            py_default = MISSING if py.default is MISSING else py.default
            avro_default = avro.get("default", MISSING)
            if isinstance(avro_default, list):
                avro_default = tuple(avro_default)
            assert py_default == avro_default, f"{name}.{py.name}"


def test_enums_have_the_same_symbols_in_the_same_order_and_an_unknown_default():
    for name, enum in AVRO_ENUMS.items():
        assert [m.value for m in PY_ENUMS[name]] == enum["symbols"], name
        assert enum.get("default") == "Unknown", f"{name} needs a default so old readers survive new symbols"


def test_payload_union_is_the_payload_types_in_order():
    payload = next(f for f in SCHEMA["fields"] if f["name"] == "payload")
    assert [NAMED.get(b, b)["name"] if isinstance(b, str) else b["name"] for b in payload["type"]] == list(events.PAYLOAD_TYPES)


def test_envelope_logical_types_match_the_python_representation():
    by_name = {f["name"]: f["type"] for f in SCHEMA["fields"]}
    assert by_name["event_id"] == {"type": "string", "logicalType": "uuid"}
    assert by_name["network_message_id"] == {"type": "string", "logicalType": "uuid"}
    assert by_name["occurred_at"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert SCHEMA["namespace"] == "io.inboxtrail.mailflow"
