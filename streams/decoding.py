"""Turning consumed Kafka records into events, or into dead letters with the reason why."""
from __future__ import annotations

from typing import Sequence, TypeVar

from schemas.codec import CodecError, decode
from schemas.events import MailFlowEvent
from schemas.validation import ValidationError, validate
from streams.dead_letters import DeadLetter, now_rfc3339

T = TypeVar("T")


def decode_batch(records: Sequence[T]) -> tuple[list[tuple[T, MailFlowEvent]], list[DeadLetter]]:
    """Never raises on input: each record (anything with a Kafka `.message`) becomes
    `(record, event)` or a dead letter; input order is kept within each list."""
    decoded: list[tuple[T, MailFlowEvent]] = []
    dead: list[DeadLetter] = []
    for record in records:
        message = record.message
        try:
            decoded.append((record, validate(decode(message.value or b""))))
        except (CodecError, ValidationError) as exc:
            dead.append(DeadLetter(key=message.key, value=message.value, reason=exc.reason, field=exc.field,
                                   detail=str(exc), topic=message.topic, partition=message.partition,
                                   offset=message.offset, rejected_at=now_rfc3339()))
    return decoded, dead
