"""Avro bytes <-> `MailFlowEvent`, the hot path of every worker.

Wire formats, told apart by the first byte:
* single-object encoding (default): `C3 01` + 8-byte little-endian CRC-64-AVRO fingerprint of the
  writer schema's canonical form + Avro binary body;
* Confluent: `00` + 4-byte big-endian schema id + body, ids mapped in-process (no registry calls).

Decoding never raises anything but `CodecError`, whatever the bytes: a worker can send any
message it cannot read to the dead-letter topic with `reason` and `field` and carry on.

Speed: body readers and writers for the current schema are generated Python, specialised to the
schema at import (one function, no per-field dispatch, fields built straight into the frozen
dataclasses). Bytes from any other released writer schema go through fastavro's schema
resolution to the current schema and are re-encoded once, so that a single reader builds events.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Mapping

import fastavro
from fastavro import parse_schema

from schemas import events
from schemas.catalog import AvroSchema, SchemaCatalog, SchemaVersion, load_catalog, named_types, without_logical_types
from schemas.events import MailFlowEvent
from schemas.validation import ADDRESS_FIELDS, ValidationError, normalize_address, now_micros, validate

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
WIRE_FORMATS = ("single-object", "confluent")


class CodecError(ValueError):
    """Bytes that are not an event of the contract, or an event that cannot be encoded.

    `reason` is a short stable snake_case label: `not_bytes`, `empty`, `bad_magic`, `truncated`,
    `unknown_fingerprint`, `unknown_schema_id`, `bad_body`, `bad_utf8`, `unknown_enum_symbol`,
    `unknown_payload_type`, `trailing_bytes`, `unresolvable` (decode) and `invalid_field`,
    `unknown_wire_format` (encode). `field` is the dotted path being read or written, or None."""

    def __init__(self, reason: str, field: str | None, message: str):
        super().__init__(f"{reason} at {field}: {message}" if field else f"{reason}: {message}")
        self.reason = reason
        self.field = field


class _Overlong(Exception):
    """A varint longer than a 64-bit long can be; turned into `bad_body` with the field path."""


# ---------------------------------------------------------------------------------------------
# Varints (zig-zag longs), used by the generated code for values that do not fit one byte.

def _read_long_tail(data: bytes, pos: int, first: int) -> tuple[int, int]:
    n = first & 0x7F
    shift = 7
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            if n >> 64:
                raise _Overlong
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift > 63:
            raise _Overlong


def _long_bytes(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    if n >> 64 or value >= 1 << 63:
        raise OverflowError(f"{value} does not fit an Avro long")
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL_LONGS = tuple(_long_bytes(n) for n in range(4096))  # lengths and counts are mostly small


# ---------------------------------------------------------------------------------------------
# Code generation for the current schema.

def _python_type(avro_name: str) -> type:
    """The type in `schemas.events` carrying an Avro record or enum's short name."""
    return getattr(events, avro_name.rsplit(".", 1)[-1])


class _Source:
    """Lines of one generated function plus the constants it closes over."""

    def __init__(self, schema: AvroSchema):
        self.named = named_types(schema)
        self.lines: list[str] = []
        self.constants: dict[str, object] = {}
        self.counter = 0

    def name(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def constant(self, stem: str, value: object) -> str:
        name = self.name(f"_{stem}")
        self.constants[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def resolve(self, schema: AvroSchema) -> AvroSchema:
        return self.named[schema] if isinstance(schema, str) and schema in self.named else schema


def _read_long(src: _Source, d: int, target: str) -> None:
    src.emit(d, "c = b[p]; p += 1")
    src.emit(d, f"if c < 128: {target} = (c >> 1) ^ -(c & 1)")
    src.emit(d, f"else: {target}, p = _read_long_tail(b, p, c)")


def _read_value(src: _Source, schema: AvroSchema, path: str, d: int) -> str:
    """Emit code reading one value of `schema` from `b` at `p`; returns the variable holding it."""
    schema = src.resolve(schema)
    out = src.name("v")
    if isinstance(schema, list):
        src.emit(d, f"at = {path!r}")
        _read_long(src, d, "k")
        for i, branch in enumerate(schema):
            src.emit(d, f"{'if' if i == 0 else 'elif'} k == {i}:")
            src.emit(d + 1, f"{out} = {_read_value(src, branch, path, d + 1)}")
        src.emit(d, "else:")
        src.emit(d + 1, f"raise CodecError('unknown_payload_type', at, f'union branch {{k}} of {len(schema)}')")
        return out
    kind = schema if isinstance(schema, str) else schema["type"]
    if kind in ("long", "int"):
        src.emit(d, f"at = {path!r}")
        _read_long(src, d, out)
        if kind == "int":
            src.emit(d, f"if not -2147483648 <= {out} <= 2147483647: raise _Overlong")
    elif kind == "string":
        src.emit(d, f"at = {path!r}")
        _read_long(src, d, "n")
        src.emit(d, "e = p + n")
        src.emit(d, "if e > L or n < 0: raise _bad_length(n, at)")
        src.emit(d, f"{out} = b[p:e].decode(); p = e")
        if path in ADDRESS_FIELDS:
            src.emit(d, f"{out} = normalize_address({out})")
    elif kind == "enum":
        symbols = src.constant(schema["name"], tuple(_python_type(schema["name"])(s) for s in schema["symbols"]))
        src.emit(d, f"at = {path!r}")
        _read_long(src, d, "k")
        src.emit(d, f"if not 0 <= k < {len(schema['symbols'])}:")
        src.emit(d + 1, f"raise CodecError('unknown_enum_symbol', at, f'symbol index {{k}} of {schema['name']}')")
        src.emit(d, f"{out} = {symbols}[k]")
    elif kind == "array":
        items = src.name("items")
        src.emit(d, f"{items} = []")
        src.emit(d, "while True:")
        src.emit(d + 1, f"at = {path!r}")
        _read_long(src, d + 1, "count")
        src.emit(d + 1, "if count == 0: break")
        src.emit(d + 1, "if count < 0:")
        src.emit(d + 2, "count = -count")
        _read_long(src, d + 2, "_")
        # every item takes at least one byte: a larger count is a lie, not a reason to loop
        src.emit(d + 1, "if count > L - p: raise IndexError")
        src.emit(d + 1, "for _ in range(count):")
        item = _read_value(src, schema["items"], path, d + 2)
        src.emit(d + 2, f"{items}.append({item})")
        src.emit(d, f"{out} = tuple({items})")
    elif kind == "record":
        values = [_read_value(src, f["type"], f"{path}.{f['name']}".lstrip("."), d) for f in schema["fields"]]
        _construct(src, d, out, _python_type(schema["name"]), [f["name"] for f in schema["fields"]], values)
    else:
        raise TypeError(f"the codec has no reader for Avro type {kind!r}")
    return out


def _construct(src: _Source, d: int, out: str, cls: type, names: list[str], values: list[str]) -> None:
    """Emit the construction of a frozen slotted dataclass from its field values.

    Frozen dataclasses set each field through `object.__setattr__`, which costs about a third of a
    decode; writing the slots through their descriptors gives the same object at half the cost.
    That is sound only while the class has exactly these slots and no `__post_init__`, which is
    checked here, at generation time; otherwise the class is called."""
    constructor = src.constant(cls.__name__, cls)
    if getattr(cls, "__slots__", None) != tuple(names) or hasattr(cls, "__post_init__"):
        src.emit(d, f"{out} = {constructor}({', '.join(values)})")
        return
    setters = [src.constant(f"set_{name}", getattr(cls, name).__set__) for name in names]
    src.emit(d, f"{out} = _new({constructor})")
    src.emit(d, "; ".join(f"{setter}({out}, {value})" for setter, value in zip(setters, values)))


def _bad_length(n: int, at: str) -> CodecError:
    if n < 0:
        return CodecError("bad_body", at, f"negative string length {n}")
    return CodecError("truncated", at, f"string of {n} bytes runs past the end")


def _build_body_reader(schema: AvroSchema):
    """`read(b, p) -> MailFlowEvent` for bodies written with `schema`, starting at offset `p`."""
    src = _Source(schema)
    src.emit(1, "L = len(b)")
    src.emit(1, "at = None")
    src.emit(1, "try:")
    event = _read_value(src, schema, "", 2)
    src.emit(1, "except IndexError:")
    src.emit(2, "raise CodecError('truncated', at, 'the body ends before this field does') from None")
    src.emit(1, "except _Overlong:")
    src.emit(2, "raise CodecError('bad_body', at, 'number out of range') from None")
    src.emit(1, "except UnicodeDecodeError as error:")
    src.emit(2, "raise CodecError('bad_utf8', at, str(error)) from None")
    src.emit(1, "if p != L:")
    src.emit(2, "raise CodecError('trailing_bytes', None, f'{L - p} bytes after the end of the event')")
    src.emit(1, f"return {event}")
    return _compile("read", "b, p", src)


def _write_value(src: _Source, schema: AvroSchema, path: str, expr: str, d: int) -> None:
    """Emit code appending the encoding of `expr` (a value of `schema`) to `out`."""
    schema = src.resolve(schema)
    if isinstance(schema, list):
        src.emit(d, f"at = {path!r}")
        src.emit(d, f"t = type({expr})")
        for i, branch in enumerate(schema):
            branch = src.resolve(branch)
            cls = src.constant(branch["name"], _python_type(branch["name"]))
            src.emit(d, f"{'if' if i == 0 else 'elif'} t is {cls}:")
            src.emit(d + 1, f"w({_SMALL_LONGS[i]!r})")
            _write_value(src, branch, path, expr, d + 1)
        src.emit(d, "else:")
        src.emit(d + 1, f"raise CodecError('invalid_field', at, f'{{t.__name__}} is not an event payload type')")
        return
    kind = schema if isinstance(schema, str) else schema["type"]
    if kind in ("long", "int"):
        src.emit(d, f"at = {path!r}")
        src.emit(d, f"n = {expr}")
        src.emit(d, "w(_SMALL_LONGS[n] if type(n) is int and 0 <= n < 4096 else _long_bytes(n.__index__()))")
    elif kind == "string":
        src.emit(d, f"at = {path!r}")
        value = f"normalize_address({expr})" if path in ADDRESS_FIELDS else expr
        src.emit(d, f"s = {value}.encode()")
        src.emit(d, "n = len(s)")
        src.emit(d, "w(_SMALL_LONGS[n] if n < 4096 else _long_bytes(n)); w(s)")
    elif kind == "enum":
        indexes = src.constant(schema["name"], {s: _SMALL_LONGS[i] for i, s in enumerate(schema["symbols"])})
        src.emit(d, f"at = {path!r}")
        src.emit(d, f"w({indexes}[{expr}])")
    elif kind == "array":
        items, item = src.name("items"), src.name("item")
        src.emit(d, f"at = {path!r}")
        src.emit(d, f"{items} = {expr}")
        src.emit(d, f"if {items}:")
        src.emit(d + 1, f"n = len({items}); w(_SMALL_LONGS[n] if n < 4096 else _long_bytes(n))")
        src.emit(d + 1, f"for {item} in {items}:")
        _write_value(src, schema["items"], path, item, d + 2)
        src.emit(d, "w(b'\\x00')")
    elif kind == "record":
        record = src.name("r")
        src.emit(d, f"{record} = {expr}")
        for f in schema["fields"]:
            _write_value(src, f["type"], f"{path}.{f['name']}".lstrip("."), f"{record}.{f['name']}", d)
    else:
        raise TypeError(f"the codec has no writer for Avro type {kind!r}")


def _build_body_writer(schema: AvroSchema):
    """`write(event) -> bytes`, the Avro binary body of `event` under `schema`."""
    src = _Source(schema)
    src.emit(1, "out = []; w = out.append; at = None")
    src.emit(1, "try:")
    _write_value(src, schema, "", "event", 2)
    src.emit(1, "except CodecError:")
    src.emit(2, "raise")
    src.emit(1, "except (AttributeError, TypeError, KeyError, ValueError, OverflowError) as error:")
    src.emit(2, "raise CodecError('invalid_field', at, f'{type(error).__name__}: {error}') from None")
    src.emit(1, "return b''.join(out)")
    return _compile("write", "event", src)


def _compile(name: str, args: str, src: _Source):
    code = f"def {name}({args}):\n" + "\n".join(src.lines) + "\n"
    scope = dict(src.constants, CodecError=CodecError, _Overlong=_Overlong, _bad_length=_bad_length,
                 _read_long_tail=_read_long_tail, _long_bytes=_long_bytes, _SMALL_LONGS=_SMALL_LONGS,
                 normalize_address=normalize_address, _new=object.__new__)
    exec(compile(code, f"<schemas.codec generated {name}>", "exec"), scope)
    function = scope[name]
    function.source = code  # kept for debugging and for the curious
    return function


# ---------------------------------------------------------------------------------------------
# The codec.

class Codec:
    """Encoder and decoder for one schema catalog.

    `confluent_ids` maps Confluent schema ids to schema labels (`v1`, ..., `current`); by default
    id N is released version vN. Encoding in the Confluent format uses the id of the current schema,
    `confluent_id` when given. `extra_writers` are further writer schemas a reader accepts, for
    example a newer version this reader predates."""

    def __init__(self, catalog: SchemaCatalog | None = None, *,
                 confluent_ids: Mapping[int, str] | None = None, confluent_id: int | None = None,
                 extra_writers: Iterable[AvroSchema] = ()):
        self.catalog = catalog or load_catalog()
        current = self.catalog.current
        self._read_current = _build_body_reader(current.schema)
        self._write_current = _build_body_writer(current.schema)
        self._reader_schema = parse_schema(without_logical_types(current.schema))
        writers = list(self.catalog.writers())
        writers += [SchemaVersion.from_schema(f"extra{i}", s) for i, s in enumerate(extra_writers)]
        self._readers = {v.fingerprint: self._reader_for(v) for v in writers}
        by_label = {v.label: v for v in writers}
        if confluent_ids is None:
            confluent_ids = {int(v.label[1:]): v.label for v in self.catalog.released}
        self._by_confluent_id = {i: self._readers[by_label[label].fingerprint] for i, label in confluent_ids.items()}
        if confluent_id is None:
            confluent_id = next((i for i, label in confluent_ids.items()
                                 if by_label[label].fingerprint == current.fingerprint), None)
        self._confluent_header = None if confluent_id is None else CONFLUENT_MAGIC + confluent_id.to_bytes(4, "big")
        self._single_object_header = SINGLE_OBJECT_MAGIC + current.fingerprint

    def _reader_for(self, writer: SchemaVersion):
        if writer.fingerprint == self.catalog.current.fingerprint:
            return self._read_current
        writer_schema = parse_schema(without_logical_types(writer.schema))

        def read_resolved(data: bytes, pos: int) -> MailFlowEvent:
            """Resolve to the current schema with fastavro, then read with the current reader:
            slower, but old writers are rare (a rolling upgrade) and there is one event builder."""
            body = io.BytesIO(data)
            body.seek(pos)
            try:
                record = fastavro.schemaless_reader(body, writer_schema, self._reader_schema,
                                                    return_record_name=True)
            except EOFError:
                raise CodecError("truncated", None, f"body written with {writer.label} ends early") from None
            except fastavro.read.SchemaResolutionError as error:
                raise CodecError("unresolvable", None, f"{writer.label} -> current: {error}") from None
            except UnicodeDecodeError as error:
                raise CodecError("bad_utf8", None, str(error)) from None
            except Exception as error:  # noqa: BLE001 - arbitrary bytes; the contract is CodecError only
                raise CodecError("bad_body", None, f"{type(error).__name__}: {error}") from None
            if body.tell() != len(data):
                raise CodecError("trailing_bytes", None, f"{len(data) - body.tell()} bytes after the end of the event")
            current = io.BytesIO()
            fastavro.schemaless_writer(current, self._reader_schema, record)
            return self._read_current(current.getvalue(), 0)

        return read_resolved

    def encode(self, event: MailFlowEvent, wire: str = "single-object") -> bytes:
        """The bytes of `event` under the current schema; addresses are normalised on the way.
        Raises `CodecError('invalid_field', path)` for a value the schema cannot hold."""
        if wire == "single-object":
            return self._single_object_header + self._write_current(event)
        if wire == "confluent":
            if self._confluent_header is None:
                raise CodecError("unknown_wire_format", None, "no Confluent schema id maps to the current schema")
            return self._confluent_header + self._write_current(event)
        raise CodecError("unknown_wire_format", None, f"wire must be one of {', '.join(WIRE_FORMATS)}, not {wire!r}")

    def decode(self, data: bytes) -> MailFlowEvent:
        """The event in `data`, either wire format; raises only `CodecError`."""
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise CodecError("not_bytes", None, f"expected bytes, got {type(data).__name__}")
            data = bytes(data)
        first = data[:1]
        if first == b"\xc3":
            if data[1:2] not in (b"\x01", b""):
                raise CodecError("bad_magic", None, f"single-object magic is C3 01, got {data[:2].hex(' ')}")
            if len(data) < 10:
                raise CodecError("truncated", None, "shorter than the 10-byte single-object header")
            read = self._readers.get(data[2:10])
            if read is None:
                raise CodecError("unknown_fingerprint", None,
                                 f"no released schema has fingerprint {data[2:10].hex()}; upgrade this reader")
            return read(data, 10)
        if first == b"\x00":
            if len(data) < 5:
                raise CodecError("truncated", None, "shorter than the 5-byte Confluent header")
            schema_id = int.from_bytes(data[1:5], "big")
            read = self._by_confluent_id.get(schema_id)
            if read is None:
                raise CodecError("unknown_schema_id", None, f"Confluent schema id {schema_id} is not mapped")
            return read(data, 5)
        if not first:
            raise CodecError("empty", None, "no bytes")
        raise CodecError("bad_magic", None, f"first byte {first.hex()} is neither C3 (single-object) nor 00 (Confluent)")

    def decode_many(self, batch: Iterable[bytes]) -> list[MailFlowEvent | CodecError]:
        """One result per message, in order: the event, or the `CodecError` that message gave."""
        decode = self.decode
        results: list[MailFlowEvent | CodecError] = []
        for data in batch:
            try:
                results.append(decode(data))
            except CodecError as error:
                results.append(error)
        return results

    def classify(self, data: bytes, *, clock=now_micros) -> tuple[MailFlowEvent | None, str | None, str | None]:
        """`(event, None, None)` for a valid event, else `(None, reason, field)` from decoding or
        validation: what a worker needs to fold a message or dead-letter it."""
        try:
            return validate(self.decode(data), clock=clock), None, None
        except (CodecError, ValidationError) as error:
            return None, error.reason, error.field


_default = Codec()
encode = _default.encode
decode = _default.decode
decode_many = _default.decode_many
classify = _default.classify
