"""Checks every event passes before the fold sees it, after Avro decode and on JSON ingest.

The Avro schema guarantees shapes (a string is a string); these checks guarantee the meaning the
fold and the stores lean on: ids that identify, a copy key that groups the right copies, a time
that orders, and sizes a row can hold. An event that fails is a poison message: the worker sends
it to the dead-letter topic with the `reason` and `field` of the `ValidationError`.

`normalize_address` is the one place addresses are normalised; the JSON reader and the Avro
encoder and decoder all call it, so a copy key never depends on how a producer spelled it.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import fields

from schemas.events import PAYLOAD_TYPES, AdminAction, Attachment, MailFlowEvent, Sender, Url

# Limits. A field over its limit is rejected, never truncated: truncation would silently change
# what an analyst searches for.
MAX_STRING_CHARS = 1024       # any string field without a limit of its own
MAX_SUBJECT_CHARS = 998       # RFC 5322 line-length limit
MAX_URL_CHARS = 8192
MAX_ADDRESS_CHARS = 320       # RFC 5321: 64 local + "@" + 255 domain
MAX_URLS = 1000
MAX_ATTACHMENTS = 250
MAX_VERDICT_ITEMS = 64        # threat types or detection methods on one event

# occurred_at window: before 2000-01-01 is a unit mistake (seconds or millis read as micros);
# later than a day ahead is a broken clock.
EARLIEST_OCCURRED_AT = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds
MAX_CLOCK_SKEW_MICROS = 86_400_000_000       # 1 day

# Fields that hold addresses, as dotted paths; the codec normalises exactly these.
ADDRESS_FIELDS = frozenset({"recipient", "payload.sender.mail_from", "payload.sender.from_address"})

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TENANT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ADDRESS_PATTERN = re.compile(r"[^@\s]+@[^@\s.][^@\s]*")

_FIELD_LIMITS = {"subject": MAX_SUBJECT_CHARS, "url": MAX_URL_CHARS,
                 "mail_from": MAX_ADDRESS_CHARS, "from_address": MAX_ADDRESS_CHARS}
_ARRAY_LIMITS = {"urls": MAX_URLS, "attachments": MAX_ATTACHMENTS,
                 "threat_types": MAX_VERDICT_ITEMS, "detection_methods": MAX_VERDICT_ITEMS}


class ValidationError(ValueError):
    """An event, or its JSON form, that the contract rejects.

    `reason` is a short stable snake_case label (metrics and dead-letter headers use it);
    `field` is the dotted path of the offending field (`payload.sender.ip`, `payload.urls[2].url`)
    or None when the whole input is wrong; `line` is the input line for JSON ingest, if known."""

    def __init__(self, reason: str, field: str | None, message: str, *, line: int | None = None):
        where = f"line {line}: " if line is not None else ""
        at = f"{field}: " if field else ""
        super().__init__(f"{where}{at}{message}")
        self.reason = reason
        self.field = field
        self.line = line
        self.message = message

    def at_line(self, line: int | None) -> ValidationError:
        """The same error, told as coming from input line `line`."""
        return ValidationError(self.reason, self.field, self.message, line=line)


def normalize_address(raw: str) -> str:
    """The one normalisation of addresses: surrounding whitespace removed, lower-cased."""
    return raw.strip().lower()


def now_micros() -> int:
    return time.time_ns() // 1000


def _check_uuid(value: str, field: str) -> None:
    if not value:
        raise ValidationError("blank", field, "must not be empty; give a canonical lower-case UUID")
    if not UUID_PATTERN.fullmatch(value):
        raise ValidationError("not_uuid", field,
                              f"{value[:60]!r} is not a canonical lower-case UUID (8-4-4-4-12 hex digits)")


def _check_string(value: str, field: str, limit: int) -> None:
    if len(value) > limit:
        raise ValidationError("too_long", field, f"{len(value)} characters, at most {limit} allowed")


def _check_count(value: tuple, field: str, limit: int) -> None:
    if len(value) > limit:
        raise ValidationError("too_many", field, f"{len(value)} items, at most {limit} allowed")


def _field_checks(cls: type) -> tuple[tuple[str, type, int], ...]:
    """(name, kind, limit) per field of a payload record type, worked out once per type because
    the worker validates every message."""
    checks = []
    for f in fields(cls):
        kind = {"str": str, "int": int}.get(f.type)
        if f.type.startswith("tuple["):
            checks.append((f.name, tuple, _ARRAY_LIMITS[f.name]))
        elif f.type in ("Sender", "Url", "Attachment"):
            checks.append((f.name, object, 0))
        elif kind is not None:
            checks.append((f.name, kind, _FIELD_LIMITS.get(f.name, MAX_STRING_CHARS)))
    return tuple(checks)


_CHECKS: dict[type, tuple[tuple[str, type, int], ...]] = {
    cls: _field_checks(cls) for cls in (*PAYLOAD_TYPES.values(), Sender, Url, Attachment)
}


def _check_record(record: object, path: str) -> None:
    """Length limits on every string, count limits on every array and no negative sizes, for a
    payload record and the records nested in it. Enum fields need no check: the codec and the
    JSON reader only ever produce members."""
    for name, kind, limit in _CHECKS[type(record)]:
        value = getattr(record, name)
        if kind is str:
            if len(value) > limit:
                _check_string(value, f"{path}.{name}", limit)
        elif kind is int:
            if value < 0:
                raise ValidationError("negative", f"{path}.{name}", f"{value} is negative; sizes and counts are >= 0")
        elif kind is tuple:
            if value:
                _check_count(value, f"{path}.{name}", limit)
                for i, item in enumerate(value):
                    if type(item) in _CHECKS:
                        _check_record(item, f"{path}.{name}[{i}]")
        else:
            _check_record(value, f"{path}.{name}")


def validate(event: MailFlowEvent, *, clock: Callable[[], int] = now_micros) -> MailFlowEvent:
    """`event` unchanged if it satisfies the contract, else `ValidationError`.

    `clock` returns the current time in epoch microseconds (injectable for tests and replays)."""
    _check_uuid(event.event_id, "event_id")
    _check_uuid(event.network_message_id, "network_message_id")
    if not event.tenant_id:
        raise ValidationError("blank", "tenant_id", "must not be empty")
    if not TENANT_ID_PATTERN.fullmatch(event.tenant_id):
        raise ValidationError("bad_tenant_id", "tenant_id",
                              f"{event.tenant_id[:70]!r} must match {TENANT_ID_PATTERN.pattern}")
    recipient = event.recipient
    if not recipient:
        raise ValidationError("blank", "recipient", "must not be empty")
    _check_string(recipient, "recipient", MAX_ADDRESS_CHARS)
    if not ADDRESS_PATTERN.fullmatch(recipient) or recipient != normalize_address(recipient):
        raise ValidationError("bad_address", "recipient",
                              f"{recipient[:80]!r} is not a lower-case address like alice@contoso.com")
    if event.occurred_at < EARLIEST_OCCURRED_AT:
        raise ValidationError("too_early", "occurred_at",
                              f"{event.occurred_at} us is before 2000-01-01; occurred_at is in microseconds")
    latest = clock() + MAX_CLOCK_SKEW_MICROS
    if event.occurred_at > latest:
        raise ValidationError("too_late", "occurred_at",
                              f"{event.occurred_at} us is more than a day in the future")
    payload = event.payload
    if isinstance(payload, AdminAction) and not payload.request_id:
        raise ValidationError("blank", "payload.request_id", "an admin action names its remediation request")
    _check_record(payload, "payload")
    return event
