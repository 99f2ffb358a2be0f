"""The JSON form of events: the format of `inboxtrail produce`, of exports and of the API.

    {"event_id": "...", "tenant_id": "contoso", "network_message_id": "...",
     "recipient": "alice@contoso.com", "occurred_at": "2026-12-04T10:15:30.123456Z",
     "source": "System", "type": "OriginalDelivery", "payload": {...}}

Invariants:
* lossless both ways: `event_from_json(event_to_json(e)) == e` for every valid event;
* output timestamps are RFC 3339 UTC with exactly six fraction digits; input may carry fewer or
  more digits (more are truncated to the microsecond, as .NET's seven digits are) and any offset;
* enums are their Avro symbols; arrays are JSON lists; fields with an Avro default may be left out;
* reading is strict: unknown fields, wrong types and unknown symbols raise `ValidationError` naming
  the field path, so a typo in a producer's file is reported rather than silently defaulted.
The shape of every record is read off the current Avro schema, the source of truth.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from schemas import events
from schemas.catalog import AvroSchema, load_catalog, named_types
from schemas.events import PAYLOAD_TYPES, MailFlowEvent
from schemas.validation import ADDRESS_FIELDS, ValidationError, normalize_address, now_micros, validate

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))")

_SCHEMA = load_catalog().current.schema
_NAMED = named_types(_SCHEMA)
_ENVELOPE_FIELDS = [f for f in _SCHEMA["fields"] if f["name"] != "payload"]


def format_timestamp(micros: int) -> str:
    """`micros` since the epoch as RFC 3339 UTC with microsecond precision."""
    t = _EPOCH + timedelta(microseconds=micros)
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
            f".{t.microsecond:06d}Z")


def parse_timestamp(text: str, field: str = "occurred_at", *, line: int | None = None) -> int:
    """An RFC 3339 timestamp with a zone (Z or offset) as microseconds since the epoch, UTC."""
    match = _RFC3339.fullmatch(text)
    if not match:
        raise ValidationError("bad_timestamp", field,
                              f"{text[:40]!r} is not RFC 3339 with a zone, e.g. 2026-12-04T10:15:30.123456Z", line=line)
    year, month, day, hour, minute, second, fraction, _, sign, off_h, off_m = match.groups()
    offset = timedelta(0) if sign is None else (1 if sign == "+" else -1) * timedelta(hours=int(off_h), minutes=int(off_m))
    try:
        t = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                     int((fraction or "0")[:6].ljust(6, "0")), tzinfo=timezone(offset))
    except ValueError as error:
        raise ValidationError("bad_timestamp", field, f"{text[:40]!r}: {error}", line=line) from None
    return (t - _EPOCH) // timedelta(microseconds=1)


# ---------------------------------------------------------------------------------------------

def _to_json(value: object) -> object:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return [_to_json(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: _to_json(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def event_to_json(event: MailFlowEvent) -> dict:
    """The JSON form of `event`, ready for `json.dumps`."""
    out = {f["name"]: _to_json(getattr(event, f["name"])) for f in _ENVELOPE_FIELDS}
    out["occurred_at"] = format_timestamp(event.occurred_at)
    out["type"] = event.type
    out["payload"] = _to_json(event.payload)
    return out


# ---------------------------------------------------------------------------------------------

_JSON_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


class _Reader:
    """Reads one JSON value against an Avro schema, with the path for error messages."""

    def __init__(self, line: int | None):
        self.line = line

    def fail(self, reason: str, path: str, message: str) -> ValidationError:
        return ValidationError(reason, path, message, line=self.line)

    def expect(self, value: object, kind: type, path: str) -> None:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail("wrong_type", path, f"expected {_JSON_TYPE_NAMES[kind]}, got {type(value).__name__}")

    def value(self, schema: AvroSchema, raw: object, path: str) -> object:
        schema = _NAMED.get(schema, schema) if isinstance(schema, str) else schema
        kind = schema if isinstance(schema, str) else schema["type"]
        if kind == "string":
            self.expect(raw, str, path)
            return normalize_address(raw) if path in ADDRESS_FIELDS else raw
        if kind in ("long", "int"):
            self.expect(raw, int, path)
            return raw
        if kind == "enum":
            self.expect(raw, str, path)
            if raw not in schema["symbols"]:
                raise self.fail("unknown_enum_symbol", path,
                                f"{raw[:40]!r} is not one of {', '.join(schema['symbols'])}")
            return getattr(events, schema["name"])(raw)
        if kind == "array":
            self.expect(raw, list, path)
            return tuple(self.value(schema["items"], item, f"{path}[{i}]") for i, item in enumerate(raw))
        if kind == "record":
            return self.record(schema, raw, path)
        raise TypeError(f"no JSON reader for Avro type {kind!r}")

    def record(self, schema: dict, raw: object, path: str, skip: frozenset[str] = frozenset()) -> object:
        self.expect(raw, dict, path or "(event)")
        prefix = f"{path}." if path else ""
        names = {f["name"] for f in schema["fields"]}
        unknown = sorted(set(raw) - names - skip)
        if unknown:
            raise self.fail("unknown_field", f"{prefix}{unknown[0]}",
                            f"not a field of {schema['name']}; fields are {', '.join(sorted(names | skip))}")
        values = []
        for f in schema["fields"]:
            if f["name"] in skip:
                continue
            field_path = f"{prefix}{f['name']}"
            if f["name"] in raw:
                values.append(self.field(f, raw[f["name"]], field_path))
            elif "default" in f:
                values.append(self.value(f["type"], f["default"], field_path))
            else:
                raise self.fail("missing", field_path, f"{schema['name']} requires {f['name']}")
        return values if skip else getattr(events, schema["name"])(*values)

    def field(self, field: dict, raw: object, path: str) -> object:
        if path == "occurred_at":
            self.expect(raw, str, path)
            return parse_timestamp(raw, path, line=self.line)
        return self.value(field["type"], raw, path)


def event_from_json(obj: object, *, line: int | None = None, clock: Callable[[], int] = now_micros) -> MailFlowEvent:
    """The validated event in a JSON form (as `json.loads` returns it); raises `ValidationError`
    with the field path and reason, and `line` (the input line, if given) in its message."""
    reader = _Reader(line)
    envelope = reader.record(_SCHEMA, obj, "", skip=frozenset({"payload", "type"}))
    kind = obj.get("type")
    if kind is None:
        raise reader.fail("missing", "type", f"give the event type, one of {', '.join(PAYLOAD_TYPES)}")
    reader.expect(kind, str, "type")
    if kind not in PAYLOAD_TYPES:
        raise reader.fail("unknown_enum_symbol", "type", f"{kind[:40]!r} is not one of {', '.join(PAYLOAD_TYPES)}")
    if "payload" not in obj:
        raise reader.fail("missing", "payload", f"a {kind} event carries a payload object")
    payload = reader.record(_NAMED[kind], obj["payload"], "payload")
    event = MailFlowEvent(*envelope, payload)
    try:
        return validate(event, clock=clock)
    except ValidationError as error:
        raise error.at_line(line) from None
