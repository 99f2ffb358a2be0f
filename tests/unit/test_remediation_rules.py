"""What the remediation agent may decide from a copy's state before asking the mailbox."""
import pytest

from projections.delivery import destination_of, fold
from projections.remediation_rules import NOT_ACTIONABLE_LOCATIONS, plan_remediation
from schemas.events import ActionResult, AdminActionKind, DeliveryAction, DeliveryLocation
from tests.fold_scenarios import CAMPAIGN_START, MINUTE, CopyEvents, original_delivery, seeded_uuids, zap

ALICE = CopyEvents("contoso", "5f0c2a4e-0000-4000-8000-000000000002", "alice@contoso.example", seeded_uuids("rules"))
REMEDIATIONS = [
    AdminActionKind.MoveToJunk, AdminActionKind.MoveToInbox, AdminActionKind.MoveToDeletedItems,
    AdminActionKind.SoftDelete, AdminActionKind.HardDelete,
]
ACTIONABLE = [
    DeliveryLocation.Inbox, DeliveryLocation.Junk, DeliveryLocation.DeletedItems,
    DeliveryLocation.SoftDeleted, DeliveryLocation.Quarantine,
]


def copy_at(location: DeliveryLocation):
    return fold([ALICE.event(CAMPAIGN_START, original_delivery(location, DeliveryAction.Unknown))])


@pytest.mark.parametrize("action", REMEDIATIONS)
@pytest.mark.parametrize("location", ACTIONABLE + [DeliveryLocation.Unknown])
def test_actionable_copy_asks_the_mailbox_unless_already_in_destination(location, action):
    # given a copy whose latest location allows actions; when an action is planned
    result = plan_remediation(copy_at(location), action)
    # then only a copy already at the destination is decided here
    if destination_of(action) == location:
        assert result == ActionResult.AlreadyInDestination
    else:
        assert result is None


@pytest.mark.parametrize("action", REMEDIATIONS[:-1])
@pytest.mark.parametrize("location", sorted(NOT_ACTIONABLE_LOCATIONS))
def test_purged_external_failed_and_dropped_copies_are_not_actionable(location, action):
    assert plan_remediation(copy_at(location), action) == ActionResult.NotActionable


def test_not_actionable_locations_are_the_vocabularys():
    assert NOT_ACTIONABLE_LOCATIONS == {
        DeliveryLocation.Purged, DeliveryLocation.OnPremExternal, DeliveryLocation.Failed, DeliveryLocation.Dropped}


def test_purging_a_purged_copy_is_already_in_destination():
    assert plan_remediation(copy_at(DeliveryLocation.Purged), AdminActionKind.HardDelete) == (
        ActionResult.AlreadyInDestination)


def test_hard_delete_of_an_external_copy_is_not_actionable():
    assert plan_remediation(copy_at(DeliveryLocation.OnPremExternal), AdminActionKind.HardDelete) == (
        ActionResult.NotActionable)


@pytest.mark.parametrize("action", REMEDIATIONS)
def test_a_copy_the_log_never_saw_is_not_found(action):
    assert plan_remediation(None, action) == ActionResult.NotFound


def test_a_copy_zap_did_not_find_is_asked_again():
    # given a copy whose latest location became Unknown after a ZAP NotFound
    state = fold([ALICE.event(CAMPAIGN_START, original_delivery()),
                  ALICE.event(CAMPAIGN_START + MINUTE, zap(ActionResult.NotFound))])
    # when a soft delete is planned, then the mailbox decides
    assert state.latest_location == DeliveryLocation.Unknown
    assert plan_remediation(state, AdminActionKind.SoftDelete) is None


@pytest.mark.parametrize("action", ["Unknown", "ArchiveToMars"])
def test_an_action_kind_unknown_to_this_version_is_not_actionable(action):
    assert plan_remediation(copy_at(DeliveryLocation.Inbox), action) == ActionResult.NotActionable
