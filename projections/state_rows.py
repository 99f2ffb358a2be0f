"""`CopyState` ⇄ `email_state` row (pure mapping, no I/O).

Invariant: `state_from_row(state_row(s)) == s` for every state `fold` can build, so the worker can
recover its fold state from the table and carry on as if it had never stopped. Order keys become
two columns (`*_order_at_us`, `*_order_event_id`); a register that holds nothing has event id ''
(event ids are UUIDs, never empty).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from operator import itemgetter

from projections.ddl import BY_TIME_COLUMNS
from projections.delivery import AdditionalAction, CopyState, OrderKey, evolve
from schemas.events import (Attachment, DeliveryAction, DeliveryLocation, DetectionMethod, Direction, MailFlowEvent,
                            ThreatType)

STATE_COLUMNS = (
    "tenant_id", "network_message_id", "recipient", "recipient_domain",
    "internet_message_id", "direction", "sender_mail_from", "sender_from_address", "sender_display_name",
    "sender_domain", "sender_ip", "subject",
    "original_delivery_action", "original_location", "original_threat_types", "original_detection_methods",
    "latest_delivery_action", "latest_location", "latest_threat_types", "latest_detection_methods",
    "additional_actions", "urls", "url_domains",
    "attachment_names", "attachment_types", "attachment_sha256s", "attachment_sizes", "size_bytes",
    "received_at", "received_at_us", "first_event_at_us", "last_event_at_us", "event_count",
    "original_order_at_us", "original_order_event_id",
    "latest_location_order_at_us", "latest_location_order_event_id",
    "latest_threat_types_order_at_us", "latest_threat_types_order_event_id",
    "latest_detection_methods_order_at_us", "latest_detection_methods_order_event_id",
    "event_digests", "version",
)

# Columns `state_from_row` reads, in its order: everything but what is derived for filtering.
_DERIVED = {"recipient_domain", "received_at", "received_at_us", "event_count"}
STATE_READ_COLUMNS = tuple(column for column in STATE_COLUMNS if column not in _DERIVED)


def received_at_us(state: CopyState) -> int:
    """Where a copy sits on the time axis: its earliest OriginalDelivery, else its first event."""
    return state.first_event_at if state.received_at is None else state.received_at


def state_row(state: CopyState) -> tuple:
    """The `email_state` row of `state`, values in `STATE_COLUMNS` order."""
    received = received_at_us(state)
    attachments = state.attachments
    if attachments:
        names, types, sha256s, sizes = ([a.file_name for a in attachments], [a.file_type for a in attachments],
                                        [a.sha256 for a in attachments], [a.size for a in attachments])
    else:  # most mail: skip four empty comprehensions (state_row is on the worker's hot path)
        names, types, sha256s, sizes = [], [], [], []
    additional = state.additional_actions
    return (
        state.tenant_id, state.network_message_id, state.recipient, state.recipient_domain,
        state.internet_message_id, str(state.direction), state.sender_mail_from, state.sender_from_address,
        state.sender_display_name, state.sender_domain, state.sender_ip, state.subject,
        str(state.original_delivery_action), str(state.original_location),
        _symbols(state.original_threat_types), _symbols(state.original_detection_methods),
        str(state.latest_delivery_action), str(state.latest_location),
        _symbols(state.latest_threat_types), _symbols(state.latest_detection_methods),
        sorted([action.name for action in additional]) if additional else [],
        list(state.urls), list(state.url_domains),
        names, types, sha256s, sizes, state.size_bytes,
        received // 1_000_000, received, state.first_event_at, state.last_event_at, state.event_count,
        *_order_columns(state.original_order_key),
        *_order_columns(state.latest_location_order_key),
        *_order_columns(state.latest_threat_types_order_key),
        *_order_columns(state.latest_detection_methods_order_key),
        sorted(state.event_digests), state.version,
    )


_BY_TIME_OF_STATE_ROW = itemgetter(*(STATE_COLUMNS.index(column) for column in BY_TIME_COLUMNS[:-1]))
_KEY = itemgetter(0, 2, 3)  # tenant, network message id, recipient in BY_TIME_COLUMNS
_RECEIVED_AT_US, _RECEIVED_AT, _SUPERSEDED = (BY_TIME_COLUMNS.index(column)
                                               for column in ("received_at_us", "received_at", "superseded"))


def by_time_rows(state_rows: Sequence[tuple], replaced: Iterable[CopyState] = ()) -> list[tuple]:
    """The `email_state_by_time` rows (`BY_TIME_COLUMNS` order) of states given as their
    `email_state` rows, plus a tombstone at the old received time of every `replaced` state whose
    successor among them has moved on the time axis (see `projections.ddl`)."""
    rows = [(*_BY_TIME_OF_STATE_ROW(row), 0) for row in state_rows]
    successors = None
    for old in replaced:
        if successors is None:
            successors = {_KEY(row): row for row in rows}
        new = successors.get(old.copy_key)
        old_received = received_at_us(old)
        if new is not None and new[_RECEIVED_AT_US] != old_received:
            tombstone = list(new)
            tombstone[_RECEIVED_AT_US], tombstone[_RECEIVED_AT] = old_received, old_received // 1_000_000
            tombstone[_SUPERSEDED] = 1
            rows.append(tuple(tombstone))
    return rows


def state_from_row(row: Sequence) -> CopyState:
    """The state stored in a row of `STATE_READ_COLUMNS` (arrays as lists or tuples)."""
    (tenant_id, network_message_id, recipient, internet_message_id, direction, mail_from, from_address,
     display_name, sender_domain, sender_ip, subject, original_action, original_location, original_threats,
     original_methods, latest_action, latest_location, latest_threats, latest_methods, additional, urls,
     url_domains, names, types, sha256s, sizes, size_bytes, first_event_at, last_event_at,
     original_at, original_id, location_at, location_id, threats_at, threats_id, methods_at, methods_id,
     digests, version) = row
    original_key = _order_key(original_at, original_id)
    return CopyState(
        tenant_id=tenant_id,
        network_message_id=network_message_id,
        recipient=recipient,
        original_order_key=original_key,
        original_delivery_action=DeliveryAction(original_action),
        original_location=DeliveryLocation(original_location),
        original_threat_types=tuple(ThreatType(t) for t in original_threats),
        original_detection_methods=tuple(DetectionMethod(m) for m in original_methods),
        latest_location_order_key=_order_key(location_at, location_id),
        latest_delivery_action=DeliveryAction(latest_action),
        latest_location=DeliveryLocation(latest_location),
        latest_threat_types_order_key=_order_key(threats_at, threats_id),
        latest_threat_types=tuple(ThreatType(t) for t in latest_threats),
        latest_detection_methods_order_key=_order_key(methods_at, methods_id),
        latest_detection_methods=tuple(DetectionMethod(m) for m in latest_methods),
        additional_actions=frozenset(AdditionalAction[name] for name in additional),
        internet_message_id=internet_message_id,
        direction=Direction(direction),
        sender_mail_from=mail_from,
        sender_from_address=from_address,
        sender_display_name=display_name,
        sender_domain=sender_domain,
        sender_ip=sender_ip,
        subject=subject,
        urls=tuple(urls),
        url_domains=tuple(url_domains),
        attachments=tuple(Attachment(*fields) for fields in zip(names, types, sha256s, sizes)),
        size_bytes=size_bytes,
        received_at=None if original_key is None else original_key[0],
        first_event_at=first_event_at,
        last_event_at=last_event_at,
        event_digests=frozenset(digests),
        version=version,
    )


def _symbols(values: Sequence[str]) -> list[str]:
    return [str(value) for value in values] if values else []


def _order_columns(key: OrderKey | None) -> tuple[int, str]:
    return (0, "") if key is None else key


def _order_key(occurred_at: int, event_id: str) -> OrderKey | None:
    return (occurred_at, event_id) if event_id else None


def fold_batch(batch: Iterable[tuple[object, MailFlowEvent]], key_of: Callable[[MailFlowEvent], Hashable],
               load: Callable[[Hashable, object], CopyState | None]) -> tuple[dict, list[CopyState]]:
    """Fold one batch of `(context, event)` onto the stored states (`load(key, context)`), event by
    event in batch order. Returns `{key: (state, context of its last event)}` and the states the
    batch's copies *left* on the time axis — the stored state and every intermediate one whose
    received time differs from the next — for `by_time_rows` to tombstone.

    Why every intermediate state and not only the stored one: a worker killed after writing a batch
    to the store but before recording its states in the table gets the batch again from the same
    offset, possibly cut at another length, and folds it from the same stored state. The killed
    attempt may have written, for any copy, the fold of the stored state with any *prefix* of that
    copy's events in the redelivered stream — exactly the intermediate states seen here (or, for a
    prefix longer than this batch, seen by the next one, which folds on from this batch's states).
    Tombstoning all of them leaves no by-time row of an attempt behind (tests/unit/test_by_time_rows.py)."""
    folded: dict = {}
    left: list[CopyState] = []
    for context, event in batch:
        key = key_of(event)
        if key in folded:
            prior = folded[key][0]
        else:
            prior = load(key, context)
        state = evolve(prior, event)
        if prior is not None and received_at_us(prior) != received_at_us(state):
            left.append(prior)
        folded[key] = (state, context)
    return folded, left
