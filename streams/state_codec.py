"""Bytes of a `CopyState` in the worker's table and its changelog.

A state is written as a pickled tuple of plain values — enum members as their values, attachments
as tuples — and read back by looking the members up. Pickling the dataclass itself stores every
enum member by reference and rebuilds it through `Enum.__call__` on load, which made the table's
put/get a tenth of the worker's CPU; plain tuples go through pickle's C paths only.

Readable formats: this one, and the pickled `CopyState` written before it (a changelog or RocksDB
table from an earlier worker is still recovered: `decode_state` tells them apart by what the pickle
holds). The changelog is written and read only by inboxtrail workers; it is not a contract.
"""
from __future__ import annotations

import dataclasses
import enum
import pickle
import typing

from projections.delivery import CopyState

_PROTOCOL = pickle.HIGHEST_PROTOCOL


def _kind(hint) -> tuple[str, object]:
    """How a field of `hint`'s type is written: ("plain", None) when pickle's C paths handle it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "member", hint
    if origin in (tuple, frozenset) and args:
        item = args[0]
        if isinstance(item, type) and issubclass(item, enum.Enum):
            return ("members" if origin is tuple else "member_set"), item
        if dataclasses.is_dataclass(item):
            return "records", item
    return "plain", None


def _codec():
    """`encode(state) -> bytes` and `decode(values) -> CopyState`, generated from CopyState's fields
    (like `projections.delivery._replaced`), so a new field is carried without editing this file."""
    hints = typing.get_type_hints(CopyState)
    namespace: dict[str, object] = {"_dumps": pickle.dumps, "_protocol": _PROTOCOL, "_new": object.__new__,
                                    "CopyState": CopyState}
    encoded, decoded = [], []
    for index, field in enumerate(dataclasses.fields(CopyState)):
        name = field.name
        kind, item = _kind(hints[name])
        value = f"state.{name}"
        namespace[f"_set_{name}"] = getattr(CopyState, name).__set__
        if kind == "plain":
            encoded.append(value)
            decoded.append(f"values[{index}]")
        elif kind == "member":
            namespace[f"_{name}_of"] = item._value2member_map_.__getitem__
            encoded.append(f"{value}._value_")
            decoded.append(f"_{name}_of(values[{index}])")
        elif kind in ("members", "member_set"):
            namespace[f"_{name}_of"] = item._value2member_map_.__getitem__
            encoded.append(f"(tuple([m._value_ for m in {value}]) if {value} else ())")
            build = "tuple" if kind == "members" else "frozenset"
            decoded.append(f"({build}(map(_{name}_of, values[{index}])) if values[{index}] else {build}())")
        else:  # records: tuples of their fields, in field order
            namespace[f"_{name}_type"] = item
            record_fields = ", ".join(f"r.{f.name}" for f in dataclasses.fields(item))
            encoded.append(f"(tuple([({record_fields},) for r in {value}]) if {value} else ())")
            decoded.append(f"(tuple([_{name}_type(*r) for r in values[{index}]]) if values[{index}] else ())")
    lines = ["def encode(state):", f"    return _dumps(({', '.join(encoded)},), _protocol)",
             "def decode(values):", "    new = _new(CopyState)"]
    lines += [f"    _set_{field.name}(new, {expression})"
              for field, expression in zip(dataclasses.fields(CopyState), decoded)]
    lines.append("    return new")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from the dataclass fields only
    return namespace["encode"], namespace["decode"]


encode_state, _decode_values = _codec()
_FIELD_COUNT = len(dataclasses.fields(CopyState))


def decode_state(raw: bytes) -> CopyState:
    """The state in `raw` (this module's format, or a pickled CopyState from an older worker)."""
    loaded = pickle.loads(raw)
    if isinstance(loaded, CopyState):
        return loaded
    if len(loaded) != _FIELD_COUNT:
        raise ValueError(f"a copy state of {len(loaded)} values, expected {_FIELD_COUNT}: "
                         "written by a different inboxtrail version")
    return _decode_values(loaded)
