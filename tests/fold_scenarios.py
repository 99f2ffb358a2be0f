"""Deterministic mail-flow scenarios with their expected outcomes, for unit, contract and e2e tests.

Expectations are written from each scenario's story (what happened to which copy), never computed
by the fold: a test that folds the events and compares is then a test of the fold. Every id is a
UUID drawn from the scenario's seed, so one seed gives the same events in every process and
different seeds never collide.
"""
from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from projections.delivery import AdditionalAction
from schemas.events import (
    ActionResult,
    AdminAction,
    AdminActionKind,
    Attachment,
    DeliveryAction,
    DeliveryLocation,
    DetectionMethod,
    Direction,
    EventSource,
    MailFlowEvent,
    OriginalDelivery,
    Payload,
    QuarantineReleased,
    Reprocessed,
    Sender,
    ThreatType,
    Url,
    ZapMoved,
    ZapType,
)

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
CAMPAIGN_START = 1_796_378_400 * SECOND  # 2026-12-04T10:00:00Z
RECIPIENTS_PER_MESSAGE = 10

CopyKey = tuple[str, str, str]


def seeded_uuids(seed: int | str) -> Callable[[], str]:
    """A callable returning a new canonical lower-case UUID4 string on each call, from `seed`."""
    rng = random.Random(f"uuids:{seed}")
    return lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True, slots=True)
class CopyEvents:
    """Builds the events of one copy; ids come from `new_id` so a scenario stays reproducible."""
    tenant_id: str
    network_message_id: str
    recipient: str
    new_id: Callable[[], str]

    @property
    def copy_key(self) -> CopyKey:
        return (self.tenant_id, self.network_message_id, self.recipient)

    def event(self, occurred_at: int, payload: Payload, source: EventSource = EventSource.System) -> MailFlowEvent:
        return MailFlowEvent(
            event_id=self.new_id(),
            tenant_id=self.tenant_id,
            network_message_id=self.network_message_id,
            recipient=self.recipient,
            occurred_at=occurred_at,
            source=source,
            payload=payload,
        )


def original_delivery(
    location: DeliveryLocation = DeliveryLocation.Inbox,
    action: DeliveryAction = DeliveryAction.Delivered,
    *,
    internet_message_id: str = "<campaign@mailer.example>",
    subject: str = "Your mailbox is almost full",
    sender: Sender = Sender("bounce@mailer.example", "it-support@contoso-help.example", "IT Support", "203.0.113.7"),
    threat_types: tuple[ThreatType, ...] = (),
    detection_methods: tuple[DetectionMethod, ...] = (),
    urls: tuple[Url, ...] = (Url("https://contoso-help.example/login", "contoso-help.example"),),
    attachments: tuple[Attachment, ...] = (),
    size_bytes: int = 24_576,
) -> OriginalDelivery:
    return OriginalDelivery(
        internet_message_id=internet_message_id,
        direction=Direction.Inbound,
        sender=sender,
        subject=subject,
        delivery_action=action,
        delivery_location=location,
        threat_types=threat_types,
        detection_methods=detection_methods,
        urls=urls,
        attachments=attachments,
        size_bytes=size_bytes,
    )


def zap(
    result: ActionResult = ActionResult.Success,
    to_location: DeliveryLocation = DeliveryLocation.Quarantine,
    threat_types: tuple[ThreatType, ...] = (ThreatType.Phish,),
) -> ZapMoved:
    return ZapMoved(zap_type=ZapType.PhishZap, to_location=to_location, result=result, threat_types=threat_types)


def admin(
    action: AdminActionKind, result: ActionResult = ActionResult.Success, request_id: str = "req-1"
) -> AdminAction:
    return AdminAction(action=action, actor="analyst@contoso.example", request_id=request_id, result=result)


def release(
    result: ActionResult = ActionResult.Success, to_location: DeliveryLocation = DeliveryLocation.Inbox
) -> QuarantineReleased:
    return QuarantineReleased(actor="analyst@contoso.example", to_location=to_location, result=result)


def reprocessed_as_phish() -> Reprocessed:
    return Reprocessed(
        threat_types=(ThreatType.Phish,),
        detection_methods=(DetectionMethod.UrlDetonation,),
        reason="URL detonated after delivery",
    )


@dataclass(frozen=True, slots=True)
class ExpectedCopy:
    original_location: DeliveryLocation
    latest_location: DeliveryLocation
    additional_actions: frozenset[AdditionalAction]
    timeline_events: int
    latest_threat_types: tuple[ThreatType, ...]


def phishing_campaign(
    tenant_id: str, seed: int, n_recipients: int = 50
) -> tuple[list[MailFlowEvent], dict[CopyKey, ExpectedCopy]]:
    """A phishing campaign and its clean-up, one expected outcome per copy.

    Story: one message per `RECIPIENTS_PER_MESSAGE` recipients lands in their inboxes (one copy
    lands in Junk). An hour later its URL detonates and every copy is Reprocessed as Phish; ZAP
    follows and quarantines most copies. Some users had already moved or deleted theirs: ZAP finds
    nothing (NotFound → Unknown). The next morning an analyst soft-deletes those: the moved ones
    are found (SoftDeleted), the deleted ones are not (NotFound → Unknown). Besides: the junked
    copy was moved to the inbox by the helpdesk before the verdict changed and then quarantined
    by ZAP; one quarantined copy is released to its inbox; a hard delete of another quarantined
    copy fails and moves nothing. One copy's ZAP has the same timestamp as its Reprocessed.

    Returns the events in time order (tests shuffle them) and, per copy key, what the state must
    be once every event is folded.
    """
    if n_recipients < 8:
        raise ValueError(f"n_recipients={n_recipients}: the campaign needs at least 8 recipients, one per role")
    rng = random.Random(f"campaign:{tenant_id}:{seed}")
    new_id = seeded_uuids(f"{tenant_id}:{seed}")
    domain = f"{tenant_id}.example"
    recipients = [f"user{index:04d}@{domain}" for index in range(n_recipients)]
    message_ids = [new_id() for _ in range(0, n_recipients, RECIPIENTS_PER_MESSAGE)]

    roles = ["junk_restored", "released", "hard_delete_failed", "same_instant_zap", "user_deleted"]
    n_moved_by_users = max(2, n_recipients // 10)
    roles += ["user_moved"] * n_moved_by_users
    roles += ["quarantined"] * (n_recipients - len(roles))
    rng.shuffle(roles)

    reprocessed_at = CAMPAIGN_START + HOUR
    zap_at = reprocessed_at + 5 * SECOND
    remediated_at = CAMPAIGN_START + 24 * HOUR
    events: list[MailFlowEvent] = []
    expected: dict[CopyKey, ExpectedCopy] = {}
    for index, (recipient, role) in enumerate(zip(recipients, roles)):
        message = index // RECIPIENTS_PER_MESSAGE
        copy = CopyEvents(tenant_id, message_ids[message], recipient, new_id)
        delivered_at = CAMPAIGN_START + message * MINUTE + rng.randrange(SECOND)
        delivery = original_delivery(internet_message_id=f"<campaign-{seed}-{message}@mailer.example>")
        if role == "junk_restored":
            delivery = original_delivery(
                DeliveryLocation.Junk, DeliveryAction.Junked,
                internet_message_id=delivery.internet_message_id,
                threat_types=(ThreatType.Spam,), detection_methods=(DetectionMethod.GeneralFilter,),
            )
        copy_events = [copy.event(delivered_at, delivery), copy.event(reprocessed_at, reprocessed_as_phish())]
        zap_time = reprocessed_at if role == "same_instant_zap" else zap_at + rng.randrange(SECOND)
        if role in ("user_moved", "user_deleted"):
            copy_events.append(copy.event(zap_time, zap(ActionResult.NotFound)))
        else:
            copy_events.append(copy.event(zap_time, zap()))
        latest = DeliveryLocation.Quarantine
        additional = {AdditionalAction.Reprocessed, AdditionalAction.Zap}
        match role:
            case "junk_restored":
                copy_events.append(
                    copy.event(delivered_at + 10 * MINUTE, admin(AdminActionKind.MoveToInbox), EventSource.Admin)
                )
                additional.add(AdditionalAction.ManualRemediation)
            case "released":
                copy_events.append(copy.event(remediated_at, release(), EventSource.Admin))
                latest = DeliveryLocation.Inbox
                additional.add(AdditionalAction.QuarantineRelease)
            case "hard_delete_failed":
                copy_events.append(
                    copy.event(remediated_at, admin(AdminActionKind.HardDelete, ActionResult.Failed), EventSource.Admin)
                )
            case "user_moved":
                copy_events.append(
                    copy.event(remediated_at, admin(AdminActionKind.SoftDelete), EventSource.Admin)
                )
                latest = DeliveryLocation.SoftDeleted
                additional = {AdditionalAction.Reprocessed, AdditionalAction.ManualRemediation}
            case "user_deleted":
                not_found = admin(AdminActionKind.SoftDelete, ActionResult.NotFound)
                copy_events.append(copy.event(remediated_at, not_found, EventSource.Admin))
                latest = DeliveryLocation.Unknown
                additional = {AdditionalAction.Reprocessed}
        events.extend(copy_events)
        expected[copy.copy_key] = ExpectedCopy(
            original_location=delivery.delivery_location,
            latest_location=latest,
            additional_actions=frozenset(additional),
            timeline_events=len(copy_events),
            latest_threat_types=(ThreatType.Phish,),
        )
    events.sort(key=lambda event: event.order_key)
    return events, expected
