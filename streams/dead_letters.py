"""Dead letters: input the worker could not decode or validate, kept byte-for-byte.

A dead letter is the original key and value plus headers saying why (`inboxtrail.reason`, a
stable label such as `truncated`; `inboxtrail.field`; `inboxtrail.detail`), where it came from
(`inboxtrail.topic`, `.partition`, `.offset`) and when it was rejected (`inboxtrail.rejected_at`,
RFC 3339 UTC). The worker publishes it and moves on, so a bad record never stalls a partition.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

HEADER_PREFIX = "inboxtrail."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    reason: str
    field: str | None
    detail: str
    topic: str
    partition: int
    offset: int
    rejected_at: str = ""


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    fields = {
        "reason": letter.reason,
        "field": letter.field or "",
        "detail": letter.detail[:1000],
        "topic": letter.topic,
        "partition": str(letter.partition),
        "offset": str(letter.offset),
        "rejected_at": letter.rejected_at or now_rfc3339(),
    }
    return [(HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]


def dead_letter_from_record(key: bytes | None, value: bytes | None, headers) -> DeadLetter:
    """Rebuild a DeadLetter from a DLQ record (the inverse of dead_letter_headers)."""
    found = {name[len(HEADER_PREFIX):]: raw.decode(errors="replace")
             for name, raw in (headers or []) if name.startswith(HEADER_PREFIX)}
    return DeadLetter(key=key, value=value, reason=found.get("reason", "unknown"), field=found.get("field") or None,
                      detail=found.get("detail", ""), topic=found.get("topic", ""),
                      partition=int(found.get("partition", "-1") or -1), offset=int(found.get("offset", "-1") or -1),
                      rejected_at=found.get("rejected_at", ""))
