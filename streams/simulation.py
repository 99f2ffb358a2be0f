"""Realistic mail flow for `inboxtrail simulate`, benchmarks and tests: a deterministic stream of
`MailFlowEvent`s for one or more tenants.

Each message is a *story* told in mail time: mostly clean mail (inbound, intra-org, outbound), bulk
and spam (Junked, some quarantined, some missed and moved later by Spam ZAP), legitimate mail
quarantined by mistake and released, dynamic delivery of attachments, and phishing and malware
campaigns reaching many recipients whose verdict changes after delivery (Reprocessed), followed by
ZAP inside its 48 h window (Success, or NotFound when the user had already deleted or moved the
copy) and by an analyst's remediation (AdminAction with actor and request id).

Invariants the tests lean on:
* deterministic: the same `SimulationPlan` yields the same events, ids included (every id and
  choice is drawn from generators seeded with `seed`; nothing reads the clock);
* every event passes `schemas.validation.validate` as long as mail time stays before now + 1 day
  (`not_after_us` stops the stream before that);
* events come out in `occurred_at` order, except for `late_original_share` of the copies whose
  `OriginalDelivery` is held back until after their first post-delivery event, as a slow gateway
  makes it happen; the fold must give the same state either way;
* the outcome of each post-delivery action is decided from where the story has put the copy so
  far, the way the mailbox would answer (moved mail → ZAP NotFound; destination reached →
  AlreadyInDestination; Purged/external → NotActionable).
Memory is bounded by the follow-ups pending within the 48 h ZAP window, not by the run length.
"""
from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from projections.delivery import destination_of
from projections.remediation_rules import NOT_ACTIONABLE_LOCATIONS
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
    Sender,
    ThreatType,
    Url,
    ZapMoved,
    ZapType,
)

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
ZAP_WINDOW = 48 * HOUR  # ZAP looks back this far after delivery (VOCABULARY, "ZAP")
DEFAULT_WINDOW = 7 * 24 * HOUR  # the mail time a run spreads over at most, unless told otherwise
LATE_ORIGINAL_MAX_DELAY = 6 * HOUR  # a gateway reports late by minutes or hours, never by days

# Story kinds and their share of messages. Campaign stories reach many recipients each, so their
# share of *events* is several times their share of messages.
DEFAULT_MIX: dict[str, float] = {
    "clean": 0.640,
    "bulk": 0.120,
    "spam": 0.150,
    "dynamic_delivery": 0.040,
    "false_positive": 0.040,
    "phish_campaign": 0.007,
    "malware_campaign": 0.003,
}
# Average events per message under DEFAULT_MIX, measured over 200k events; used to spread a run
# of a known size over a window of mail time.
EVENTS_PER_MESSAGE = 4.0

FIRST_NAMES = ("alex", "anna", "ben", "carla", "chen", "dara", "diego", "emma", "fatima", "grace", "hugo",
               "ines", "jamal", "julia", "kenji", "lara", "liam", "maria", "mehmet", "nina", "omar", "priya",
               "rosa", "sam", "sofia", "tom", "vera", "yuki")
LAST_NAMES = ("adams", "baker", "costa", "dubois", "evans", "fischer", "garcia", "haddad", "ito", "jensen",
              "kowalski", "larsen", "moreau", "nguyen", "okafor", "patel", "rossi", "schmidt", "silva", "tanaka")
MAILBOXES_PER_TENANT = 300

CLEAN_SUBJECTS = ("Weekly sync notes", "Re: Q4 budget review", "Lunch on Thursday?", "Updated roadmap draft",
                  "Invoice INV-{n} attached", "Your order #{n} has shipped", "Meeting moved to 3pm",
                  "Re: contract redlines", "Travel itinerary for next week", "Customer escalation #{n}")
BULK_SUBJECTS = ("This week's top deals", "Webinar: scaling your team", "Your monthly newsletter",
                 "Last chance: 40% off", "New features in your plan")
SPAM_SUBJECTS = ("You have won a gift card", "Cheap meds, no prescription", "Work from home, $5000/week",
                 "Claim your prize now", "Hot singles in your area")
PHISH_SUBJECTS = ("Your mailbox is almost full", "Action required: verify your account",
                  "Shared document: Q4 payroll.xlsx", "Unusual sign-in activity", "Password expires today",
                  "DocuSign: please review and sign")
MALWARE_SUBJECTS = ("Overdue invoice {n}", "Scanned document {n}", "Shipping notice DHL {n}",
                    "Purchase order PO-{n}", "Remittance advice")
PARTNER_DOMAINS = ("fabrikam.example", "northwind.example", "adatum.example", "tailspin.example",
                   "wingtip.example", "litware.example")
BULK_SENDERS = ("news@deals.example", "hello@saasweekly.example", "events@webinars.example",
                "offers@shopmore.example")
SPAM_DOMAINS = ("cheap-pills.example", "prize-claims.example", "fast-cash.example", "lucky-win.example")
LURE_WORDS = ("secure", "login", "office", "verify", "account", "docs", "share", "portal", "mail", "auth")


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    """What to simulate. `start_us` is the mail time of the first message (µs since the epoch);
    messages follow each other by `message_gap_us` on average (exponential gaps, so arrivals are
    a Poisson process). The stream ends before any event would be later than `not_after_us`."""
    tenants: tuple[str, ...]
    seed: int
    start_us: int
    message_gap_us: int = SECOND
    not_after_us: int | None = None
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    late_original_share: float = 0.02

    def __post_init__(self):
        if not self.tenants:
            raise ValueError("simulate at least one tenant")
        unknown = set(self.mix) - set(DEFAULT_MIX)
        if unknown:
            raise ValueError(f"unknown story kinds {sorted(unknown)}; known: {', '.join(DEFAULT_MIX)}")
        if self.message_gap_us < 1:
            raise ValueError("message_gap_us must be at least 1 µs")


def message_gap_for(expected_events: int, window_us: int = DEFAULT_WINDOW) -> int:
    """The mean gap between messages that spreads `expected_events` over at most `window_us` of
    mail time: one message every 2 s (a busy tenant) unless that would not fit, never under 1 ms.
    A function of its arguments only, so a run with a fixed start is reproducible."""
    messages = max(1, expected_events / EVENTS_PER_MESSAGE)
    return int(min(2 * SECOND, max(1000, window_us / messages)))


def mail_time_span(expected_events: int, message_gap_us: int) -> int:
    """About how much mail time `expected_events` cover at `message_gap_us` between messages."""
    return int(expected_events / EVENTS_PER_MESSAGE * message_gap_us)


def simulate(plan: SimulationPlan) -> Iterator[MailFlowEvent]:
    """The events of `plan`, endless unless `plan.not_after_us` is set; take what you need
    (`itertools.islice`) — what is taken does not depend on how much is taken."""
    return _Simulation(plan).events()


# ---------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Copy:
    """One email copy inside a story: its identity and where the story has put it so far."""
    tenant_id: str
    network_message_id: str
    recipient: str
    location: DeliveryLocation
    delivered_at: int
    user_removed: bool = False  # the user deleted or moved it: mailbox actions will not find it


@dataclass(slots=True)
class _Tenant:
    tenant_id: str
    domain: str
    mailboxes: list[str]
    admins: list[str]
    phish_policy_location: DeliveryLocation  # where PhishZap puts mail (per anti-phish policy)


@dataclass(frozen=True, slots=True)
class _Remediation:
    """One analyst request covering every copy of a campaign."""
    action: AdminActionKind
    actor: str
    request_id: str
    at: int


@dataclass(slots=True)
class _PhishCampaign:
    sender: Sender
    subject: str
    url: Url
    detonated_at: int
    zap_type: ZapType
    zap_to: DeliveryLocation
    remediation: _Remediation | None = None
    rerun: _Remediation | None = None  # the same clean-up run again later, as a soft delete


class _Simulation:
    def __init__(self, plan: SimulationPlan):
        self.plan = plan
        self.rng = random.Random(f"simulate:{plan.seed}")
        self._id_bits = random.Random(f"simulate-ids:{plan.seed}").getrandbits
        self.tenants = [self._tenant(tenant_id) for tenant_id in plan.tenants]
        self.kinds = list(plan.mix)
        self.weights = [plan.mix[kind] for kind in self.kinds]
        self.pending: list[tuple[int, int, MailFlowEvent]] = []  # (emit_at, sequence, event)
        self.sequence = 0
        self.serial = 1000

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._id_bits(128), version=4))

    def _tenant(self, tenant_id: str) -> _Tenant:
        rng = random.Random(f"simulate-tenant:{self.plan.seed}:{tenant_id}")
        domain = f"{tenant_id}.example"
        names = [f"{first}.{last}" for first in FIRST_NAMES for last in LAST_NAMES]
        mailboxes = [f"{name}@{domain}" for name in rng.sample(names, min(MAILBOXES_PER_TENANT, len(names)))]
        admins = [f"secops-{name}@{domain}" for name in ("ana", "raj", "lee")]
        policy = DeliveryLocation.Quarantine if rng.random() < 0.6 else DeliveryLocation.Junk
        return _Tenant(tenant_id, domain, mailboxes, admins, policy)

    # -- the stream ---------------------------------------------------------------------------
    def events(self) -> Iterator[MailFlowEvent]:
        clock = self.plan.start_us
        not_after = self.plan.not_after_us
        rate = 1.0 / self.plan.message_gap_us
        stories = [getattr(self, f"_story_{kind}") for kind in self.kinds]
        while True:
            clock += 1 + int(self.rng.expovariate(rate))
            while self.pending and self.pending[0][0] <= clock:
                emit_at, _, event = heapq.heappop(self.pending)
                if not_after is not None and event.occurred_at > not_after:
                    return
                yield event
            if not_after is not None and clock > not_after:
                return
            story = self.rng.choices(stories, self.weights)[0]
            story(self.rng.choice(self.tenants), clock)

    def _emit(self, events: list[tuple[int, MailFlowEvent]]) -> None:
        """Queue one copy's events (the OriginalDelivery first); sometimes hold the delivery back
        until after the first follow-up, as a late-reporting gateway does."""
        if len(events) > 1 and self.rng.random() < self.plan.late_original_share:
            delivered_at = events[0][0]
            first_follow_up = min(at for at, _ in events[1:])
            if first_follow_up - delivered_at <= LATE_ORIGINAL_MAX_DELAY:
                events = [(first_follow_up + self.rng.randrange(1, 30 * SECOND), events[0][1]), *events[1:]]
        for emit_at, event in events:
            self.sequence += 1
            heapq.heappush(self.pending, (emit_at, self.sequence, event))

    def _event(self, copy: _Copy, at: int, payload: Payload,
               source: EventSource = EventSource.System) -> tuple[int, MailFlowEvent]:
        return at, MailFlowEvent(self.new_id(), copy.tenant_id, copy.network_message_id, copy.recipient, at,
                                 source, payload)

    # -- building blocks ------------------------------------------------------------------------
    def _number(self) -> int:
        self.serial += 1
        return self.serial

    def _subject(self, choices: tuple[str, ...]) -> str:
        return self.rng.choice(choices).format(n=self._number())

    def _ip(self) -> str:
        prefix = self.rng.choice(("192.0.2", "198.51.100", "203.0.113"))
        return f"{prefix}.{self.rng.randrange(1, 255)}"

    def _sender(self, address: str, display_name: str, ip: str | None = None, mail_from: str | None = None) -> Sender:
        return Sender(mail_from or address, address, display_name, ip or self._ip())

    def _internet_message_id(self, domain: str) -> str:
        return f"<{self._id_bits(64):016x}@{domain}>"

    def _attachment(self, kind: str) -> Attachment:
        file_type = self.rng.choice(("pdf", "docx", "xlsx")) if kind == "clean" else self.rng.choice(
            ("zip", "iso", "html", "xlsm", "js"))
        name = f"{self.rng.choice(('invoice', 'scan', 'report', 'statement', 'order'))}_{self._number()}.{file_type}"
        return Attachment(name, file_type, f"{self._id_bits(256):064x}", self.rng.randrange(8_000, 2_000_000))

    def _recipients(self, tenant: _Tenant, low: int, high: int) -> list[str]:
        return self.rng.sample(tenant.mailboxes, min(len(tenant.mailboxes), self.rng.randint(low, high)))

    def _delivery(self, *, internet_message_id: str, direction: Direction, sender: Sender, subject: str,
                  action: DeliveryAction, location: DeliveryLocation, threats: tuple[ThreatType, ...] = (),
                  methods: tuple[DetectionMethod, ...] = (), urls: tuple[Url, ...] = (),
                  attachments: tuple[Attachment, ...] = ()) -> OriginalDelivery:
        size = 4_000 + self.rng.randrange(60_000) + sum(a.size for a in attachments)
        return OriginalDelivery(internet_message_id, direction, sender, subject, action, location, threats,
                                methods, urls, attachments, size)

    def _copy(self, tenant: _Tenant, network_message_id: str, recipient: str, location: DeliveryLocation,
              at: int) -> _Copy:
        return _Copy(tenant.tenant_id, network_message_id, recipient, location, at)

    def _zap(self, copy: _Copy, at: int, zap_type: ZapType, to_location: DeliveryLocation,
             threats: tuple[ThreatType, ...]) -> tuple[int, MailFlowEvent]:
        """A ZAP move, always inside the 48 h window; finds nothing if the user removed the copy."""
        at = min(at, copy.delivered_at + ZAP_WINDOW - SECOND)
        if copy.user_removed:
            result = ActionResult.NotFound
            copy.location = DeliveryLocation.Unknown
        elif copy.location == to_location:
            result = ActionResult.AlreadyInDestination
        else:
            result = ActionResult.Success
            copy.location = to_location
        return self._event(copy, at, ZapMoved(zap_type, to_location, result, threats))

    def _admin(self, copy: _Copy, at: int, action: AdminActionKind, actor: str, request_id: str,
               reason: str) -> tuple[int, MailFlowEvent]:
        """An analyst's action, answered as the mailbox would (remediation rules)."""
        destination = destination_of(action)
        if copy.location == destination:
            result = ActionResult.AlreadyInDestination
        elif copy.location in NOT_ACTIONABLE_LOCATIONS:
            result = ActionResult.NotActionable
        elif copy.user_removed or copy.location == DeliveryLocation.Unknown:
            result = ActionResult.NotFound
            copy.location = DeliveryLocation.Unknown
        elif self.rng.random() < 0.02:
            result = ActionResult.Failed  # the mailbox was unavailable; nothing moved
        else:
            result = ActionResult.Success
            copy.location = destination
        return self._event(copy, at, AdminAction(action, actor, request_id, result, reason), EventSource.Admin)

    # -- stories --------------------------------------------------------------------------------
    def _story_clean(self, tenant: _Tenant, at: int) -> None:
        roll = self.rng.random()
        insider = self.rng.choice(tenant.mailboxes)
        display = insider.split("@")[0].replace(".", " ").title()
        if roll < 0.7:
            partner = self.rng.choice(PARTNER_DOMAINS)
            sender = self._sender(f"{self.rng.choice(FIRST_NAMES)}@{partner}", f"{partner.split('.')[0].title()} team")
            direction, recipients, location = Direction.Inbound, self._recipients(tenant, 1, 3), DeliveryLocation.Inbox
        elif roll < 0.9:
            sender = self._sender(insider, display, ip="10.0.0.25")
            direction, recipients, location = Direction.IntraOrg, self._recipients(tenant, 1, 8), DeliveryLocation.Inbox
        else:
            sender = self._sender(insider, display, ip="10.0.0.25")
            partner = self.rng.choice(PARTNER_DOMAINS)
            direction, location = Direction.Outbound, DeliveryLocation.OnPremExternal
            recipients = [f"{self.rng.choice(FIRST_NAMES)}@{partner}"]
        attachments = (self._attachment("clean"),) if self.rng.random() < 0.2 else ()
        delivery = self._delivery(internet_message_id=self._internet_message_id(sender.from_address.split("@")[1]),
                                  direction=direction, sender=sender, subject=self._subject(CLEAN_SUBJECTS),
                                  action=DeliveryAction.Delivered, location=location, attachments=attachments)
        network_message_id = self.new_id()
        for recipient in recipients:
            copy = self._copy(tenant, network_message_id, recipient, location, at + self.rng.randrange(SECOND))
            self._emit([self._event(copy, copy.delivered_at, delivery)])

    def _story_bulk(self, tenant: _Tenant, at: int) -> None:
        address = self.rng.choice(BULK_SENDERS)
        delivered = self.rng.random() < 0.3  # bulk below the tenant's threshold lands in the inbox
        delivery = self._delivery(
            internet_message_id=self._internet_message_id(address.split("@")[1]), direction=Direction.Inbound,
            sender=self._sender(address, address.split("@")[1].split(".")[0].title()),
            subject=self._subject(BULK_SUBJECTS),
            action=DeliveryAction.Delivered if delivered else DeliveryAction.Junked,
            location=DeliveryLocation.Inbox if delivered else DeliveryLocation.Junk,
            threats=(ThreatType.Bulk,), methods=(DetectionMethod.AdvancedFilter,),
            urls=(Url(f"https://{address.split('@')[1]}/unsubscribe", address.split("@")[1]),))
        network_message_id = self.new_id()
        for recipient in self._recipients(tenant, 1, 10):
            copy = self._copy(tenant, network_message_id, recipient, delivery.delivery_location,
                              at + self.rng.randrange(SECOND))
            self._emit([self._event(copy, copy.delivered_at, delivery)])

    def _story_spam(self, tenant: _Tenant, at: int) -> None:
        domain = self.rng.choice(SPAM_DOMAINS)
        address = f"{self.rng.choice(FIRST_NAMES)}{self.rng.randrange(100)}@{domain}"
        sender = self._sender(address, "Winner Notification")
        methods = (self.rng.choice((DetectionMethod.GeneralFilter, DetectionMethod.IpReputation,
                                    DetectionMethod.DomainReputation)),)
        roll = self.rng.random()
        if roll < 0.55:
            action, location, threats = DeliveryAction.Junked, DeliveryLocation.Junk, (ThreatType.Spam,)
        elif roll < 0.75:
            action, location, threats = DeliveryAction.Blocked, DeliveryLocation.Quarantine, (ThreatType.Spam,)
        else:  # missed at delivery; Spam ZAP or an analyst catches it later
            action, location, threats, methods = DeliveryAction.Delivered, DeliveryLocation.Inbox, (), ()
        delivery = self._delivery(internet_message_id=self._internet_message_id(domain), direction=Direction.Inbound,
                                  sender=sender, subject=self._subject(SPAM_SUBJECTS), action=action,
                                  location=location, threats=threats, methods=methods,
                                  urls=(Url(f"http://{domain}/claim?id={self._number()}", domain),))
        network_message_id = self.new_id()
        for recipient in self._recipients(tenant, 1, 3):
            copy = self._copy(tenant, network_message_id, recipient, location, at + self.rng.randrange(SECOND))
            events = [self._event(copy, copy.delivered_at, delivery)]
            if location == DeliveryLocation.Inbox:
                copy.user_removed = self.rng.random() < 0.3  # read and deleted before ZAP came
                if self.rng.random() < 0.85:
                    zap_at = copy.delivered_at + int(self.rng.expovariate(1 / (3 * HOUR))) + 5 * MINUTE
                    events.append(self._zap(copy, zap_at, ZapType.SpamZap, DeliveryLocation.Junk, (ThreatType.Spam,)))
                else:  # a user reported it; the helpdesk moves it to Junk
                    admin_at = copy.delivered_at + self.rng.randrange(10 * MINUTE, 8 * HOUR)
                    events.append(self._admin(copy, admin_at, AdminActionKind.MoveToJunk,
                                              self.rng.choice(tenant.admins), self.new_id(), "user reported spam"))
            elif location == DeliveryLocation.Quarantine and self.rng.random() < 0.1:
                release_at = copy.delivered_at + self.rng.randrange(30 * MINUTE, 24 * HOUR)
                events.append(self._event(copy, release_at, QuarantineReleased(
                    copy.recipient, DeliveryLocation.Inbox, ActionResult.Success), EventSource.User))
                copy.location = DeliveryLocation.Inbox
            self._emit(events)

    def _story_dynamic_delivery(self, tenant: _Tenant, at: int) -> None:
        """The body is delivered at once while attachments detonate; clean ones are reattached."""
        partner = self.rng.choice(PARTNER_DOMAINS)
        sender = self._sender(f"billing@{partner}", f"{partner.split('.')[0].title()} Billing")
        delivery = self._delivery(internet_message_id=self._internet_message_id(partner), direction=Direction.Inbound,
                                  sender=sender, subject=self._subject(CLEAN_SUBJECTS), action=DeliveryAction.Delivered,
                                  location=DeliveryLocation.Inbox, attachments=(self._attachment("clean"),))
        network_message_id = self.new_id()
        for recipient in self._recipients(tenant, 1, 2):
            copy = self._copy(tenant, network_message_id, recipient, DeliveryLocation.Inbox,
                              at + self.rng.randrange(SECOND))
            redelivered_at = copy.delivered_at + self.rng.randrange(30 * SECOND, 3 * MINUTE)
            redelivered = DynamicDelivery(0, DeliveryLocation.Inbox, ActionResult.Success)
            self._emit([self._event(copy, copy.delivered_at, delivery), self._event(copy, redelivered_at, redelivered)])

    def _story_false_positive(self, tenant: _Tenant, at: int) -> None:
        """Legitimate mail quarantined at delivery; an analyst checks it and releases it."""
        partner = self.rng.choice(PARTNER_DOMAINS)
        sender = self._sender(f"accounts@{partner}", f"{partner.split('.')[0].title()} Accounts")
        threat, method = self.rng.choice(((ThreatType.Phish, DetectionMethod.ImpersonationDomain),
                                          (ThreatType.Spam, DetectionMethod.MixedAnalysis)))
        delivery = self._delivery(internet_message_id=self._internet_message_id(partner), direction=Direction.Inbound,
                                  sender=sender, subject=self._subject(CLEAN_SUBJECTS), action=DeliveryAction.Blocked,
                                  location=DeliveryLocation.Quarantine, threats=(threat,), methods=(method,))
        network_message_id = self.new_id()
        admin = self.rng.choice(tenant.admins)
        release_at = at + self.rng.randrange(20 * MINUTE, 8 * HOUR)
        for recipient in self._recipients(tenant, 1, 2):
            copy = self._copy(tenant, network_message_id, recipient, DeliveryLocation.Quarantine,
                              at + self.rng.randrange(SECOND))
            result = ActionResult.Failed if self.rng.random() < 0.05 else ActionResult.Success
            events = [self._event(copy, copy.delivered_at, delivery),
                      self._event(copy, release_at - MINUTE, Reprocessed((), (), "admin submission: not junk")),
                      self._event(copy, release_at + self.rng.randrange(SECOND),
                                  QuarantineReleased(admin, DeliveryLocation.Inbox, result), EventSource.Admin)]
            self._emit(events)

    def _story_phish_campaign(self, tenant: _Tenant, at: int) -> None:
        """A lure sent as a few messages to many recipients; the URL detonates later, the copies
        are Reprocessed as Phish, ZAP moves them, and half the time an analyst remediates the rest."""
        lure_domain = f"{'-'.join(self.rng.sample(LURE_WORDS, 2))}-{tenant.tenant_id[:12]}.example"
        zap_type = ZapType.HighConfidencePhishZap if self.rng.random() < 0.3 else ZapType.PhishZap
        detonated_at = at + self.rng.randrange(20 * MINUTE, 6 * HOUR)
        campaign = _PhishCampaign(
            sender=self._sender(f"no-reply@{lure_domain}", self.rng.choice(("IT Support", "Microsoft 365", "HR Team"))),
            subject=self._subject(PHISH_SUBJECTS),
            url=Url(f"https://{lure_domain}/login?session={self._id_bits(32):08x}", lure_domain),
            detonated_at=detonated_at,
            zap_type=zap_type,
            zap_to=(DeliveryLocation.Quarantine if zap_type == ZapType.HighConfidencePhishZap
                    else tenant.phish_policy_location))
        if self.rng.random() < 0.5:
            campaign.remediation = _Remediation(
                self.rng.choice((AdminActionKind.SoftDelete, AdminActionKind.HardDelete,
                                 AdminActionKind.MoveToDeletedItems)),
                self.rng.choice(tenant.admins), self.new_id(), detonated_at + self.rng.randrange(30 * MINUTE, 8 * HOUR))
            if self.rng.random() < 0.3:
                campaign.rerun = _Remediation(AdminActionKind.SoftDelete, self.rng.choice(tenant.admins), self.new_id(),
                                              campaign.remediation.at + self.rng.randrange(2 * HOUR, 24 * HOUR))
        recipients = self._recipients(tenant, 15, 80)
        messages = self.rng.randint(1, 3)
        for index in range(messages):
            network_message_id = self.new_id()
            sent_at = at + index * self.rng.randrange(10 * MINUTE)
            for recipient in recipients[index::messages]:
                delivered_at = sent_at + self.rng.randrange(5 * SECOND)
                self._phish_copy(tenant, campaign, network_message_id, recipient, delivered_at)

    def _phish_copy(self, tenant: _Tenant, campaign: _PhishCampaign, network_message_id: str, recipient: str,
                    delivered_at: int) -> None:
        roll = self.rng.random()
        if roll < 0.75:
            action, location, threats, methods = DeliveryAction.Delivered, DeliveryLocation.Inbox, (), ()
        elif roll < 0.85:
            action, location, threats, methods = (DeliveryAction.Junked, DeliveryLocation.Junk, (ThreatType.Spam,),
                                                  (DetectionMethod.GeneralFilter,))
        else:
            action, location, threats, methods = (DeliveryAction.Blocked, DeliveryLocation.Quarantine,
                                                  (ThreatType.Phish,), (DetectionMethod.UrlReputation,))
        delivery = self._delivery(internet_message_id=self._internet_message_id(campaign.url.domain),
                                  direction=Direction.Inbound, sender=campaign.sender, subject=campaign.subject,
                                  action=action, location=location, threats=threats, methods=methods,
                                  urls=(campaign.url,))
        copy = self._copy(tenant, network_message_id, recipient, location, delivered_at)
        events = [self._event(copy, delivered_at, delivery)]
        if location != DeliveryLocation.Quarantine:
            copy.user_removed = self.rng.random() < 0.12
            verdict_at = max(campaign.detonated_at, delivered_at + SECOND)
            events.append(self._event(copy, verdict_at, Reprocessed(
                (ThreatType.Phish,), (DetectionMethod.UrlDetonation,), "URL detonation after delivery")))
            events.append(self._zap(copy, verdict_at + self.rng.randrange(5 * SECOND, 2 * MINUTE), campaign.zap_type,
                                    campaign.zap_to, (ThreatType.Phish,)))
        for remediation in (campaign.remediation, campaign.rerun):
            if remediation is not None:
                events.append(self._admin(copy, remediation.at + self.rng.randrange(MINUTE), remediation.action,
                                          remediation.actor, remediation.request_id, "phishing campaign clean-up"))
        self._emit(events)

    def _story_malware_campaign(self, tenant: _Tenant, at: int) -> None:
        """Malicious attachments: most are blocked at delivery, some go through dynamic delivery
        (body first, the attachment replaced by a notice), the rest are missed and Malware ZAP
        quarantines them once the file detonates."""
        partner_like = f"{self.rng.choice(('dhl-track', 'invoices', 'scan-center'))}-{self.rng.randrange(100)}.example"
        sender = self._sender(f"noreply@{partner_like}", "Accounts Payable")
        attachment = self._attachment("malware")
        subject = self._subject(MALWARE_SUBJECTS)
        detonated_at = at + self.rng.randrange(30 * MINUTE, 12 * HOUR)
        network_message_id = self.new_id()
        for recipient in self._recipients(tenant, 10, 60):
            delivered_at = at + self.rng.randrange(10 * SECOND)
            roll = self.rng.random()
            if roll < 0.6:
                action, location, threats = DeliveryAction.Blocked, DeliveryLocation.Quarantine, (ThreatType.Malware,)
                methods = (self.rng.choice((DetectionMethod.AntiMalwareEngine, DetectionMethod.FileReputation)),)
            else:
                action, location, threats, methods = DeliveryAction.Delivered, DeliveryLocation.Inbox, (), ()
            delivery = self._delivery(internet_message_id=self._internet_message_id(partner_like),
                                      direction=Direction.Inbound, sender=sender, subject=subject, action=action,
                                      location=location, threats=threats, methods=methods, attachments=(attachment,))
            copy = self._copy(tenant, network_message_id, recipient, location, delivered_at)
            events = [self._event(copy, delivered_at, delivery)]
            if roll < 0.6:
                pass
            elif roll < 0.85:
                replaced_at = delivered_at + self.rng.randrange(MINUTE, 3 * MINUTE)
                events.append(self._event(copy, replaced_at, Reprocessed(
                    (ThreatType.Malware,), (DetectionMethod.FileDetonation,), "attachment detonated")))
                events.append(self._event(copy, replaced_at + SECOND,
                                          DynamicDelivery(1, DeliveryLocation.Inbox, ActionResult.Success)))
            else:
                copy.user_removed = self.rng.random() < 0.15
                verdict_at = max(detonated_at, delivered_at + SECOND)
                events.append(self._event(copy, verdict_at, Reprocessed(
                    (ThreatType.Malware,), (DetectionMethod.FileDetonation,), "attachment detonated")))
                events.append(self._zap(copy, verdict_at + self.rng.randrange(5 * SECOND, MINUTE), ZapType.MalwareZap,
                                        DeliveryLocation.Quarantine, (ThreatType.Malware,)))
            self._emit(events)
