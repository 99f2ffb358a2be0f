"""The mailbox a remediation acts on, behind one small interface.

The default, `SimulatedMailbox`, does NOT touch any real mailbox: it answers from inboxtrail's own
projected state — a copy whose latest location is Unknown is no longer in the mailbox (NotFound),
every other actionable copy is moved (Success). It exists so the whole remediation flow (commands,
per-copy results, timelines, audit) runs end to end on one machine; a real adapter (e.g. IMAP or
Microsoft Graph) implements the same `apply`.
"""
from __future__ import annotations

from typing import Protocol

from projections.delivery import CopyState
from schemas.events import ActionResult, AdminActionKind, DeliveryLocation


class Mailbox(Protocol):
    name: str

    async def apply(self, state: CopyState, action: AdminActionKind) -> ActionResult:
        """Carry out `action` on the copy; Success, NotFound (not in the mailbox any more) or Failed."""


class SimulatedMailbox:
    name = "simulated"

    async def apply(self, state: CopyState, action: AdminActionKind) -> ActionResult:
        if state.latest_location == DeliveryLocation.Unknown:
            return ActionResult.NotFound
        return ActionResult.Success
