"""The contract between the Explorer and the remediation flow (`streams/remediation.py`).

The HTTP layer authenticates, checks roles, records the audit entry and hands a
`RemediationRequest` to an object implementing `Remediations`. That object owns the rest: the
two-person rule (a request over the configured size is `Proposed` until a different user approves
it), publishing commands to `mailflow.commands`, and the per-copy results the agent reports back.

States follow Threat Explorer's action status (VOCABULARY, "Remediation rules"): Proposed (two-
person mode, waiting for approval) → Queued → InProgress → Completed | Failed.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence, runtime_checkable

from schemas.events import ActionResult, AdminActionKind, DeliveryLocation

if TYPE_CHECKING:  # the read side's query type; only needed for annotations here
    from projections.queries import EmailQuery


class RequestState(StrEnum):
    Proposed = "Proposed"
    Queued = "Queued"
    InProgress = "InProgress"
    Completed = "Completed"
    Failed = "Failed"


@dataclass(frozen=True, slots=True)
class CopyTarget:
    """One email copy of the caller's tenant (the tenant is the request's)."""
    network_message_id: str
    recipient: str


@dataclass(frozen=True, slots=True)
class RemediationRequest:
    """What an analyst asked for. `targets` is either the selected copies or the filter of the
    email list (an `EmailQuery` of the requester's tenant, without paging: every match)."""
    request_id: str
    tenant_id: str
    action: AdminActionKind
    targets: "tuple[CopyTarget, ...] | EmailQuery"
    requester: str
    reason: str


@dataclass(frozen=True, slots=True)
class RequestStatus:
    """Where a request stands. `counts` holds, per ActionResult symbol, how many copies have
    that result so far; `target_count` is how many copies the request covers (when known)."""
    request_id: str
    tenant_id: str
    action: AdminActionKind
    state: RequestState
    counts: Mapping[ActionResult, int]
    requester: str
    approver: str | None
    created_at: int  # µs since the epoch, UTC
    reason: str = ""
    target_count: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CopyPlan:
    """The dry-run outcome for one copy: `planned_result` is what the copy's current state
    decides (`projections.remediation_rules.plan_remediation`), None when only the mailbox can
    say (the action would be carried out)."""
    network_message_id: str
    recipient: str
    latest_location: DeliveryLocation
    planned_result: ActionResult | None
    destination: DeliveryLocation


class ApprovalRefused(Exception):
    """The approval is not allowed as asked (same user as the requester, or the request is not
    Proposed); the message says which."""


class RemediationRejected(Exception):
    """The request cannot be accepted (e.g. it covers more copies than one request may); the
    message says what to change."""


@runtime_checkable
class Remediations(Protocol):
    async def submit(self, request: RemediationRequest) -> RequestStatus:
        """Accept the request: Queued, or Proposed when it is over the two-person threshold."""

    async def approve(self, request_id: str, approver: str) -> RequestStatus:
        """Approve a Proposed request; raises ApprovalRefused when `approver` is its requester
        or it is not Proposed."""

    async def status(self, tenant_id: str, request_id: str) -> RequestStatus | None:
        """The request of this tenant, or None (unknown, or another tenant's)."""

    async def list(self, tenant_id: str) -> Sequence[RequestStatus]:
        """This tenant's requests, newest first."""

    async def preview(self, request: RemediationRequest) -> Sequence[CopyPlan]:
        """The per-copy plan without acting (the `--dry-run` of `inboxtrail remediate`)."""
