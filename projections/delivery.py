"""The delivery fold: the events of one email copy → that copy's state (a row of `email_state`).

Pure: no I/O, no faust or clickhouse imports. `streams` runs it inside the agent, `inboxtrail
rebuild` runs it over the whole log, and both must produce the same rows.

Why the fold is order-independent and idempotent (DESIGN.md, "Fold semantics"): every field of
`CopyState` is one of
* a set union (`additional_actions`, `event_digests`) or a min/max (`first_event_at`,
  `last_event_at`);
* a *register* that holds the value written by the event with the least (`original_*`) or the
  greatest (`latest_*`) order key `(occurred_at, event_id)` among the events that write it. The
  register keeps its writer's order key, so an event that arrives late is compared, never applied
  blindly. Distinct events have distinct event ids, so two writers never tie.
Each of these merges is commutative, associative and idempotent, hence so is `evolve`: the state is
a function of the *set* of events, which is what makes replay safe and rebuild equal to live.

The identity of an event is its `event_id` (the envelope contract); two events with one id are the
same fact, and the first one folded stands for both.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TypeVar

from schemas.events import (
    ActionResult,
    AdminAction,
    AdminActionKind,
    Attachment,
    DeliveryAction,
    DeliveryLocation,
    DetectionMethod,
    Direction,
    DynamicDelivery,
    EventSource,
    MailFlowEvent,
    OriginalDelivery,
    Payload,
    QuarantineReleased,
    Reprocessed,
    ThreatType,
    ZapMoved,
)

PROJECTION_NAME = "email_state"

OrderKey = tuple[int, str]
_Symbol = TypeVar("_Symbol", bound=str)
CopyKey = tuple[str, str, str]


class AdditionalAction(StrEnum):
    """Post-delivery outcomes shown per email (VOCABULARY: additional / "special" actions).

    The values are the analyst's words, the symbols are what the API and the store carry."""
    Zap = "ZAP"
    ManualRemediation = "Manual remediation"
    AutomatedRemediation = "Automated remediation"
    QuarantineRelease = "Quarantine release"
    DynamicDelivery = "Dynamic delivery"
    Reprocessed = "Reprocessed"


_ADMIN_DESTINATIONS: dict[str, DeliveryLocation] = {
    AdminActionKind.MoveToJunk: DeliveryLocation.Junk,
    AdminActionKind.MoveToInbox: DeliveryLocation.Inbox,
    AdminActionKind.MoveToDeletedItems: DeliveryLocation.DeletedItems,
    AdminActionKind.SoftDelete: DeliveryLocation.SoftDeleted,
    AdminActionKind.HardDelete: DeliveryLocation.Purged,
}

# What the user can do with a copy in each location (VOCABULARY, "Delivery action"): Delivered =
# can open it; Junked = in Junk or Deleted Items, can still open it; Blocked = cannot reach it.
# Soft-deleted mail sits in Recoverable Items, outside every folder the user reads, and purged
# mail is gone: both were removed on purpose, so both count as Blocked.
_ACTION_OF_LOCATION: dict[str, DeliveryAction] = {
    DeliveryLocation.Inbox: DeliveryAction.Delivered,
    DeliveryLocation.OnPremExternal: DeliveryAction.Delivered,
    DeliveryLocation.Junk: DeliveryAction.Junked,
    DeliveryLocation.DeletedItems: DeliveryAction.Junked,
    DeliveryLocation.Quarantine: DeliveryAction.Blocked,
    DeliveryLocation.Failed: DeliveryAction.Blocked,
    DeliveryLocation.Dropped: DeliveryAction.Blocked,
    DeliveryLocation.SoftDeleted: DeliveryAction.Blocked,
    DeliveryLocation.Purged: DeliveryAction.Blocked,
}

# `version` = event count in the high bits, a fingerprint of the event set in the low bits.
FINGERPRINT_BITS = 40
_FINGERPRINT_MASK = (1 << FINGERPRINT_BITS) - 1
MAX_EVENTS_PER_COPY = (1 << (64 - FINGERPRINT_BITS)) - 1


def destination_of(action: AdminActionKind) -> DeliveryLocation:
    """Where a successful admin action puts a copy; Unknown for a kind this version does not know
    (a newer producer's symbol), because then nobody here can say where the copy went."""
    return _ADMIN_DESTINATIONS.get(action, DeliveryLocation.Unknown)


def delivery_action_of(location: DeliveryLocation) -> DeliveryAction:
    """The delivery action an analyst sees for a copy that a post-delivery action moved to
    `location` (Unknown → Unknown)."""
    return _ACTION_OF_LOCATION.get(location, DeliveryAction.Unknown)


def event_digest(event_id: str) -> int:
    """A 64-bit digest of an event id, stable across processes and Python versions (unlike
    `hash()`, which is salted per process)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class CopyState:
    """What inboxtrail knows about one email copy `(tenant_id, network_message_id, recipient)`.

    Built only by `evolve`/`fold`. Fields hold plain hashable values (str enums, ints, tuples,
    frozensets), so states compare by value and equal event sets give equal states.

    Idempotency: `event_digests` is the set of 64-bit blake2b digests of the folded event ids.
    A digest is 8 bytes of payload against 36 for the id string, and a collision between two
    events of *one copy* (a handful to a few hundred events) has probability ~n²/2⁶⁵ — far
    below anything else that can go wrong. Only this set needs to grow with the log; every other
    field is bounded.

    `version` (the `ReplacingMergeTree(version)` column) = `len(event_digests) << 40 | xor of the
    digests' low 40 bits`. It is a function of the event set, it grows strictly with every new
    distinct event (the count is in the high bits) and stays put on a duplicate; two states of one
    copy with equal versions hold the same number of events with the same fingerprint, i.e. the
    same set except with probability 2⁻⁴⁰. It fits UInt64 up to `MAX_EVENTS_PER_COPY` (2²⁴ - 1)
    events per copy.

    `*_order_key` fields are the order keys of the events whose values the registers hold (None
    until such an event arrives); `latest_location_order_key` is the event that set the latest
    location.
    """
    tenant_id: str
    network_message_id: str
    recipient: str
    # from the earliest OriginalDelivery; Unknown / empty until one arrives
    original_order_key: OrderKey | None
    original_delivery_action: DeliveryAction
    original_location: DeliveryLocation
    original_threat_types: tuple[ThreatType, ...]
    original_detection_methods: tuple[DetectionMethod, ...]
    # from the latest OriginalDelivery or successful / NotFound location-changing action
    latest_location_order_key: OrderKey | None
    latest_delivery_action: DeliveryAction
    latest_location: DeliveryLocation
    # from the latest event carrying a verdict (OriginalDelivery, Reprocessed, ZAP with threats)
    latest_threat_types_order_key: OrderKey | None
    latest_threat_types: tuple[ThreatType, ...]
    # from the latest event carrying detection methods (OriginalDelivery, Reprocessed)
    latest_detection_methods_order_key: OrderKey | None
    latest_detection_methods: tuple[DetectionMethod, ...]
    additional_actions: frozenset[AdditionalAction]
    # message facts, from the same (earliest) OriginalDelivery as original_*
    internet_message_id: str
    direction: Direction
    sender_mail_from: str
    sender_from_address: str
    sender_display_name: str
    sender_domain: str
    sender_ip: str
    subject: str
    urls: tuple[str, ...]
    url_domains: tuple[str, ...]
    attachments: tuple[Attachment, ...]
    size_bytes: int
    received_at: int | None  # occurred_at of the earliest OriginalDelivery, µs UTC
    first_event_at: int
    last_event_at: int
    event_digests: frozenset[int]
    version: int

    @property
    def copy_key(self) -> CopyKey:
        return (self.tenant_id, self.network_message_id, self.recipient)

    @property
    def recipient_domain(self) -> str:
        return _domain_of(self.recipient)

    @property
    def event_count(self) -> int:
        """Distinct events folded: the length of the copy's timeline."""
        return len(self.event_digests)


def evolve(state: CopyState | None, event: MailFlowEvent) -> CopyState:
    """Order-independent and idempotent: the result depends on the set of events only.

    Raises ValueError if the event belongs to another copy than `state` (a wiring error: states
    are keyed by copy)."""
    if state is None:
        state = _unknown_copy(event)
    elif state.copy_key != event.copy_key:
        raise ValueError(
            f"event {event.event_id} of copy {event.copy_key} folded into the state of {state.copy_key}"
        )
    digest = event_digest(event.event_id)
    if digest in state.event_digests:
        return state
    count = len(state.event_digests) + 1
    if count > MAX_EVENTS_PER_COPY:
        raise ValueError(
            f"copy {state.copy_key} has more than {MAX_EVENTS_PER_COPY} events; its version would overflow UInt64"
        )
    fingerprint = (state.version ^ digest) & _FINGERPRINT_MASK
    changes: dict[str, object] = {
        "event_digests": state.event_digests | {digest},
        "version": count << FINGERPRINT_BITS | fingerprint,
        "first_event_at": min(state.first_event_at, event.occurred_at),
        "last_event_at": max(state.last_event_at, event.occurred_at),
    }
    key = event.order_key
    payload = event.payload
    if isinstance(payload, OriginalDelivery) and _earlier(key, state.original_order_key):
        changes.update(_original_fields(key, payload))
    move = _move_of(payload)
    if move is not None and _later(key, state.latest_location_order_key):
        changes.update(latest_location_order_key=key, latest_location=move[0], latest_delivery_action=move[1])
    threat_types = _threat_verdict_of(payload)
    if threat_types is not None and _later(key, state.latest_threat_types_order_key):
        changes.update(latest_threat_types_order_key=key, latest_threat_types=_normalized(threat_types))
    detection_methods = _detection_verdict_of(payload)
    if detection_methods is not None and _later(key, state.latest_detection_methods_order_key):
        changes.update(
            latest_detection_methods_order_key=key, latest_detection_methods=_normalized(detection_methods)
        )
    additional = _additional_action_of(event.source, payload)
    if additional is not None and additional not in state.additional_actions:
        changes["additional_actions"] = state.additional_actions | {additional}
    return _replaced(state, changes)


def fold(events: Iterable[MailFlowEvent], state: CopyState | None = None) -> CopyState:
    """`evolve` over `events`, all of one copy. Raises ValueError when there is nothing to fold
    (no events and no state): a copy exists only through its events."""
    for event in events:
        state = evolve(state, event)
    if state is None:
        raise ValueError("fold needs at least one event or a state to start from")
    return state


def fold_copies(
    events: Iterable[MailFlowEvent], states: dict[CopyKey, CopyState] | None = None
) -> dict[CopyKey, CopyState]:
    """`evolve` over events of any copies, starting from `states` (not mutated); returns the
    states of every copy seen, keyed by copy key."""
    folded = dict(states or {})
    for event in events:
        key = event.copy_key
        folded[key] = evolve(folded.get(key), event)
    return folded


def _state_builder():
    """`_replaced(state, changes)`: `dataclasses.replace` for `CopyState` without its cost.

    `replace` looks the fields up and runs the frozen `__init__` (an `object.__setattr__` per
    field): about a third of `evolve`. This fills the slots of a new instance straight through
    their descriptors, the same values in the same fields, so the state is equal in every way
    (CopyState has no `__post_init__` to skip)."""
    names = [f.name for f in fields(CopyState)]
    lines = ["def _replaced(state, changes):", "    new = _new(CopyState)", "    get = changes.get"]
    lines += [f"    _set_{name}(new, get({name!r}, state.{name}))" for name in names]
    lines.append("    return new")
    namespace = {"_new": object.__new__, "CopyState": CopyState}
    namespace.update({f"_set_{name}": getattr(CopyState, name).__set__ for name in names})
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from the dataclass fields only
    return namespace["_replaced"]


_replaced = _state_builder()


def _unknown_copy(event: MailFlowEvent) -> CopyState:
    """The state before any event: nothing known. Never returned as such by `evolve`."""
    return _replaced(_NOTHING_KNOWN, {"tenant_id": event.tenant_id, "network_message_id": event.network_message_id,
                                      "recipient": event.recipient, "first_event_at": event.occurred_at,
                                      "last_event_at": event.occurred_at})


# the template `_unknown_copy` fills in with a copy's identity and first event time
_NOTHING_KNOWN = CopyState(
    tenant_id="",
    network_message_id="",
    recipient="",
    original_order_key=None,
    original_delivery_action=DeliveryAction.Unknown,
    original_location=DeliveryLocation.Unknown,
    original_threat_types=(),
    original_detection_methods=(),
    latest_location_order_key=None,
    latest_delivery_action=DeliveryAction.Unknown,
    latest_location=DeliveryLocation.Unknown,
    latest_threat_types_order_key=None,
    latest_threat_types=(),
    latest_detection_methods_order_key=None,
    latest_detection_methods=(),
    additional_actions=frozenset(),
    internet_message_id="",
    direction=Direction.Unknown,
    sender_mail_from="",
    sender_from_address="",
    sender_display_name="",
    sender_domain="",
    sender_ip="",
    subject="",
    urls=(),
    url_domains=(),
    attachments=(),
    size_bytes=0,
    received_at=None,
    first_event_at=0,
    last_event_at=0,
    event_digests=frozenset(),
    version=0,
)


def _original_fields(key: OrderKey, delivery: OriginalDelivery) -> dict[str, object]:
    sender = delivery.sender
    return {
        "original_order_key": key,
        "original_delivery_action": delivery.delivery_action,
        "original_location": delivery.delivery_location,
        "original_threat_types": _normalized(delivery.threat_types),
        "original_detection_methods": _normalized(delivery.detection_methods),
        "internet_message_id": delivery.internet_message_id,
        "direction": delivery.direction,
        "sender_mail_from": sender.mail_from,
        "sender_from_address": sender.from_address,
        "sender_display_name": sender.display_name,
        "sender_domain": _domain_of(sender.from_address),
        "sender_ip": sender.ip,
        "subject": delivery.subject,
        "urls": tuple(url.url for url in delivery.urls),
        "url_domains": _normalized(url.domain.lower() for url in delivery.urls if url.domain),
        "attachments": delivery.attachments,
        "size_bytes": delivery.size_bytes,
        "received_at": key[0],
    }


def _move_of(payload: Payload) -> tuple[DeliveryLocation, DeliveryAction] | None:
    """(latest location, latest delivery action) an event sets, or None if it moves nothing.

    NotFound: the mailbox no longer has the copy, so where it is is Unknown. AlreadyInDestination,
    NotActionable, Failed (and result symbols this version does not know) move nothing."""
    match payload:
        case OriginalDelivery():
            return payload.delivery_location, payload.delivery_action
        case ZapMoved() | AdminAction() | QuarantineReleased() | DynamicDelivery():
            if payload.result == ActionResult.NotFound:
                return DeliveryLocation.Unknown, DeliveryAction.Unknown
            if payload.result != ActionResult.Success:
                return None
            if isinstance(payload, AdminAction):
                location = destination_of(payload.action)
            else:
                location = payload.to_location
            if isinstance(payload, DynamicDelivery) and payload.attachments_replaced > 0:
                return location, DeliveryAction.Replaced
            return location, delivery_action_of(location)
    return None


def _threat_verdict_of(payload: Payload) -> tuple[ThreatType, ...] | None:
    """Threat types an event states as the current verdict. A ZAP with no threat types states
    none (its field defaults to empty); a Reprocessed with none says the mail is now clean."""
    match payload:
        case OriginalDelivery() | Reprocessed():
            return payload.threat_types
        case ZapMoved() if payload.threat_types:
            return payload.threat_types
    return None


def _detection_verdict_of(payload: Payload) -> tuple[DetectionMethod, ...] | None:
    match payload:
        case OriginalDelivery() | Reprocessed():
            return payload.detection_methods
    return None


def _additional_action_of(source: EventSource, payload: Payload) -> AdditionalAction | None:
    """The kind of a *successful* post-delivery action. NotFound is on the timeline but not an
    additional action: it did nothing to the copy (it only tells that the copy was gone)."""
    match payload:
        case Reprocessed():
            return AdditionalAction.Reprocessed
        case ZapMoved() | AdminAction() | QuarantineReleased() | DynamicDelivery() if (
            payload.result != ActionResult.Success
        ):
            return None
        case ZapMoved():
            return AdditionalAction.Zap
        case AdminAction():
            # an admin action the system took on its own is an automated investigation's
            if source == EventSource.System:
                return AdditionalAction.AutomatedRemediation
            return AdditionalAction.ManualRemediation
        case QuarantineReleased():
            return AdditionalAction.QuarantineRelease
        case DynamicDelivery():
            return AdditionalAction.DynamicDelivery
    return None


def _earlier(key: OrderKey, than: OrderKey | None) -> bool:
    return than is None or key < than


def _later(key: OrderKey, than: OrderKey | None) -> bool:
    return than is None or key > than


def _normalized(values: Iterable[_Symbol]) -> tuple[_Symbol, ...]:
    """Sorted, without repeats: the set a field means, in one canonical order."""
    if type(values) is tuple and len(values) < 2:  # most verdicts: nothing to sort (a hot path)
        return values
    return tuple(sorted(set(values)))


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else ""
