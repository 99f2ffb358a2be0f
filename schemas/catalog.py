"""The Avro schemas of the event contract: the current one and every released version.

Invariants:
* `schemas/mail_flow_event.avsc` is the current schema and the source of truth for the Python
  types in `schemas.events` (kept in step by `tests/unit/test_schema_sync.py`);
* `schemas/versions/vN/mail_flow_event.avsc` are released versions; a released file is never
  edited, because producers in the field still write with it and readers find it by fingerprint;
* every released version is BACKWARD and FORWARD compatible with every earlier one, so readers
  and writers can be upgraded in any order (`incompatibilities` is what the tests run).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Iterator

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).parent
SCHEMA_FILE = "mail_flow_event.avsc"
NAMESPACE = "io.inboxtrail.mailflow"

AvroSchema = Any  # a schema as JSON-decoded from an .avsc file: dict, list or str


def _rabin_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (0xC15D213AA4D7A795 & -(fp & 1))
        table.append(fp)
    return tuple(table)


_RABIN_EMPTY = 0xC15D213AA4D7A795
_RABIN_TABLE = _rabin_table()


def rabin_fingerprint(canonical_form: str) -> bytes:
    """CRC-64-AVRO of a schema's Parsing Canonical Form, as the 8 little-endian bytes that
    follow `C3 01` in single-object encoding (Avro specification, "Schema Fingerprints")."""
    fp = _RABIN_EMPTY
    for byte in canonical_form.encode("utf-8"):
        fp = (fp >> 8) ^ _RABIN_TABLE[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


@dataclass(frozen=True)
class SchemaVersion:
    """One version of the envelope schema. `label` is `vN` for a released version and `current`
    for the working copy; `fingerprint` identifies the writer in single-object encoding."""
    label: str
    schema: AvroSchema
    canonical_form: str
    fingerprint: bytes

    @classmethod
    def from_schema(cls, label: str, schema: AvroSchema) -> SchemaVersion:
        canonical = to_parsing_canonical_form(parse_schema(schema, _write_hint=False))
        return cls(label, schema, canonical, rabin_fingerprint(canonical))


@dataclass(frozen=True)
class SchemaCatalog:
    current: SchemaVersion
    released: tuple[SchemaVersion, ...]  # oldest first

    def writers(self) -> Iterator[SchemaVersion]:
        """Every schema a reader must accept bytes from: all released versions and the current."""
        yield from self.released
        if all(v.fingerprint != self.current.fingerprint for v in self.released):
            yield self.current


def _version_number(path: Path) -> int:
    return int(path.parent.name[1:])


@cache
def load_catalog(root: Path = SCHEMA_DIR) -> SchemaCatalog:
    """The current schema and all released versions under `root/versions/v*/`."""
    current = SchemaVersion.from_schema("current", json.loads((root / SCHEMA_FILE).read_text()))
    paths = sorted(
        (p for p in (root / "versions").glob(f"v*/{SCHEMA_FILE}") if re.fullmatch(r"v\d+", p.parent.name)),
        key=_version_number,
    )
    released = tuple(SchemaVersion.from_schema(p.parent.name, json.loads(p.read_text())) for p in paths)
    return SchemaCatalog(current, released)


def named_types(schema: AvroSchema, namespace: str = "") -> dict[str, dict]:
    """Every named type (record, enum) in `schema`, keyed by both its short and full name.

    Short names are unique in this contract, which is what lets the Python types in
    `schemas.events` carry the Avro short names."""
    found: dict[str, dict] = {}

    def walk(node: AvroSchema, ns: str) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, ns)
        elif isinstance(node, dict):
            kind = node["type"]
            if kind in ("record", "enum", "fixed"):
                ns = node.get("namespace", ns)
                short = node["name"].rsplit(".", 1)[-1]
                found[short] = node
                found[f"{ns}.{short}" if ns else short] = node
                for field in node.get("fields", ()):
                    walk(field["type"], ns)
            elif kind == "array":
                walk(node["items"], ns)
            elif kind == "map":
                walk(node["values"], ns)

    walk(schema, namespace)
    return found


def without_logical_types(schema: AvroSchema) -> AvroSchema:
    """`schema` with every `logicalType` removed, so that readers produce the plain `str` and
    `int` values the Python types hold (uuid strings, epoch microseconds) without conversions.
    The Parsing Canonical Form, and therefore the fingerprint, is unchanged."""
    if isinstance(schema, list):
        return [without_logical_types(branch) for branch in schema]
    if isinstance(schema, dict):
        stripped = {k: without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
        if set(stripped) == {"type"} and isinstance(stripped["type"], str):
            return stripped["type"]
        return stripped
    return schema


def _avro_schema(schema: AvroSchema) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema))


def incompatibilities(candidate: AvroSchema, earlier: list[SchemaVersion]) -> list[str]:
    """Why `candidate` may not be released after `earlier`, as readable lines; empty when it is
    BACKWARD compatible (it reads what each earlier version wrote) and FORWARD compatible (each
    earlier version reads what it writes)."""
    checker = ReaderWriterCompatibilityChecker()
    new = _avro_schema(candidate)
    problems = []
    for version in earlier:
        old = _avro_schema(version.schema)
        for direction, reader, writer in (("BACKWARD", new, old), ("FORWARD", old, new)):
            result = checker.get_compatibility(reader, writer)
            if result.compatibility is not SchemaCompatibilityType.compatible:
                problems.append(f"{direction} against {version.label}: {'; '.join(result.messages)}")
    return problems
