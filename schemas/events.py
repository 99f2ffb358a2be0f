"""Python types of the mail-flow event contract.

The `.avsc` files next to this module are the source of truth; `tests/unit/test_schema_sync.py`
keeps these types in step with them. Events are immutable values: the fold and the stores only
ever read them.

Representation choices, made for the hot path and kept everywhere past the codec:
* enum-typed fields hold the Avro symbol as a `str` subclass (`StrEnum`), so a plain symbol string
  compares equal to its member;
* `occurred_at` is microseconds since the Unix epoch, UTC (Avro `timestamp-micros`);
* ids are canonical lower-case UUID strings, addresses are lower-cased and stripped.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DeliveryAction(StrEnum):
    Delivered = "Delivered"
    Junked = "Junked"
    Blocked = "Blocked"
    Replaced = "Replaced"
    Unknown = "Unknown"


class DeliveryLocation(StrEnum):
    Inbox = "Inbox"
    OnPremExternal = "OnPremExternal"
    Junk = "Junk"
    DeletedItems = "DeletedItems"
    Quarantine = "Quarantine"
    Failed = "Failed"
    Dropped = "Dropped"
    SoftDeleted = "SoftDeleted"
    Purged = "Purged"
    Unknown = "Unknown"


class ActionResult(StrEnum):
    Success = "Success"
    AlreadyInDestination = "AlreadyInDestination"
    NotActionable = "NotActionable"
    NotFound = "NotFound"
    Failed = "Failed"
    Unknown = "Unknown"  # reader default for result symbols added by later schema versions


class Direction(StrEnum):
    Inbound = "Inbound"
    Outbound = "Outbound"
    IntraOrg = "IntraOrg"
    Unknown = "Unknown"


class EventSource(StrEnum):
    System = "System"
    Admin = "Admin"
    User = "User"
    Unknown = "Unknown"  # reader default for sources added by later schema versions


class ThreatType(StrEnum):
    Phish = "Phish"
    Malware = "Malware"
    Spam = "Spam"
    Bulk = "Bulk"
    Unknown = "Unknown"


class DetectionMethod(StrEnum):
    UrlDetonation = "UrlDetonation"
    UrlReputation = "UrlReputation"
    FileDetonation = "FileDetonation"
    FileReputation = "FileReputation"
    AntiMalwareEngine = "AntiMalwareEngine"
    SpoofDmarc = "SpoofDmarc"
    SpoofIntraOrg = "SpoofIntraOrg"
    SpoofExternalDomain = "SpoofExternalDomain"
    ImpersonationUser = "ImpersonationUser"
    ImpersonationDomain = "ImpersonationDomain"
    ImpersonationBrand = "ImpersonationBrand"
    MailboxIntelligence = "MailboxIntelligence"
    IpReputation = "IpReputation"
    DomainReputation = "DomainReputation"
    AdvancedFilter = "AdvancedFilter"
    MixedAnalysis = "MixedAnalysis"
    GeneralFilter = "GeneralFilter"
    Unknown = "Unknown"


class ZapType(StrEnum):
    PhishZap = "PhishZap"
    HighConfidencePhishZap = "HighConfidencePhishZap"
    MalwareZap = "MalwareZap"
    SpamZap = "SpamZap"
    Unknown = "Unknown"


class AdminActionKind(StrEnum):
    MoveToJunk = "MoveToJunk"
    MoveToInbox = "MoveToInbox"
    MoveToDeletedItems = "MoveToDeletedItems"
    SoftDelete = "SoftDelete"
    HardDelete = "HardDelete"
    Unknown = "Unknown"  # reader default for actions added by later schema versions


@dataclass(frozen=True, slots=True)
class Sender:
    mail_from: str
    from_address: str
    display_name: str
    ip: str


@dataclass(frozen=True, slots=True)
class Url:
    url: str
    domain: str


@dataclass(frozen=True, slots=True)
class Attachment:
    file_name: str
    file_type: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class OriginalDelivery:
    internet_message_id: str
    direction: Direction
    sender: Sender
    subject: str
    delivery_action: DeliveryAction
    delivery_location: DeliveryLocation
    threat_types: tuple[ThreatType, ...] = ()
    detection_methods: tuple[DetectionMethod, ...] = ()
    urls: tuple[Url, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    size_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ZapMoved:
    zap_type: ZapType
    to_location: DeliveryLocation
    result: ActionResult
    threat_types: tuple[ThreatType, ...] = ()


@dataclass(frozen=True, slots=True)
class AdminAction:
    action: AdminActionKind
    actor: str
    request_id: str
    result: ActionResult
    reason: str = ""


@dataclass(frozen=True, slots=True)
class QuarantineReleased:
    actor: str
    to_location: DeliveryLocation
    result: ActionResult


@dataclass(frozen=True, slots=True)
class DynamicDelivery:
    """Attachments were detonated while the body was delivered; `attachments_replaced` counts
    the attachments swapped for a notice, `to_location` is where the redelivered copy landed."""
    attachments_replaced: int
    to_location: DeliveryLocation
    result: ActionResult


@dataclass(frozen=True, slots=True)
class Reprocessed:
    """A verdict changed after delivery; it never moves mail."""
    threat_types: tuple[ThreatType, ...]
    detection_methods: tuple[DetectionMethod, ...]
    reason: str = ""


Payload = OriginalDelivery | ZapMoved | AdminAction | QuarantineReleased | DynamicDelivery | Reprocessed

PAYLOAD_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (OriginalDelivery, ZapMoved, AdminAction, QuarantineReleased, DynamicDelivery, Reprocessed)
}


@dataclass(frozen=True, slots=True)
class MailFlowEvent:
    """One immutable fact about one email copy `(tenant_id, network_message_id, recipient)`.

    Order key: `(occurred_at, event_id)`; identity of the fact: `event_id`."""
    event_id: str
    tenant_id: str
    network_message_id: str
    recipient: str
    occurred_at: int  # microseconds since the Unix epoch, UTC
    source: EventSource
    payload: Payload

    @property
    def type(self) -> str:
        return type(self.payload).__name__

    @property
    def copy_key(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.network_message_id, self.recipient)

    @property
    def order_key(self) -> tuple[int, str]:
        return (self.occurred_at, self.event_id)
