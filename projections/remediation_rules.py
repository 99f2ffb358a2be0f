"""What a remediation action can do to a copy, decided from its folded state before any mailbox is
asked (VOCABULARY, "Remediation rules"). Pure: the remediation agent calls it and turns a decided
result into an `AdminAction` event without touching the mailbox.
"""
from __future__ import annotations

from projections.delivery import CopyState, destination_of
from schemas.events import ActionResult, AdminActionKind, DeliveryLocation

# Mail no action can reach: gone for good (Purged), outside this tenant's mailboxes
# (OnPremExternal), or never delivered (Failed, Dropped).
NOT_ACTIONABLE_LOCATIONS = frozenset(
    {DeliveryLocation.Purged, DeliveryLocation.OnPremExternal, DeliveryLocation.Failed, DeliveryLocation.Dropped}
)


def plan_remediation(state: CopyState | None, action: AdminActionKind) -> ActionResult | None:
    """The result of `action` on the copy if the state decides it, or None: actionable, ask the
    mailbox (which then answers Success, NotFound or Failed).

    * no state → NotFound: the log holds no event of this copy, so no mailbox is known to have it.
      (The agent must read the state the fold writes for this copy's partition; a lagging read
      would turn into a false NotFound.)
    * latest location already the destination → AlreadyInDestination, checked first: a purged
      copy asked to be purged again is already where the action would put it.
    * latest location Purged, OnPremExternal, Failed or Dropped → NotActionable.
    * latest location Unknown → None. Unknown means the last action found nothing or no delivery
      is known yet; only the mailbox can say where the copy is now, and its answer (NotFound or
      Success) is a true fact for the timeline, where a NotActionable would claim a location.
    * an action kind this version does not know → NotActionable (nobody here can carry it out).
    * Quarantine with MoveToInbox → None: the agent carries it out as a quarantine release.
    """
    if state is None:
        return ActionResult.NotFound
    destination = destination_of(action)
    if destination == DeliveryLocation.Unknown:
        return ActionResult.NotActionable
    if state.latest_location == destination:
        return ActionResult.AlreadyInDestination
    if state.latest_location in NOT_ACTIONABLE_LOCATIONS:
        return ActionResult.NotActionable
    return None
