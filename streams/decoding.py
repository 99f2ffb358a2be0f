"""Turning consumed Kafka records into events, or into dead letters with the reason why."""
from __future__ import annotations

from typing import Sequence

from schemas.codec import CodecError, decode
from schemas.events import MailFlowEvent
from schemas.validation import ValidationError, validate
from streams.dead_letters import DeadLetter, now_rfc3339


def decode_batch(messages: Sequence) -> tuple[list[MailFlowEvent], list[DeadLetter]]:
    """Never raises on input: each record becomes an event or a dead letter (order kept per kind)."""
    decoded: list[MailFlowEvent] = []
    dead: list[DeadLetter] = []
    for message in messages:
        try:
            decoded.append(validate(decode(message.value or b"")))
        except (CodecError, ValidationError) as exc:
            dead.append(DeadLetter(key=message.key, value=message.value, reason=exc.reason, field=exc.field,
                                   detail=str(exc), topic=message.topic, partition=message.partition,
                                   offset=message.offset, rejected_at=now_rfc3339()))
    return decoded, dead
