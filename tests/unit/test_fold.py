"""The delivery fold, rule by rule (DESIGN.md "Fold semantics", VOCABULARY.md)."""
from dataclasses import replace
from functools import reduce
from operator import xor

import pytest

from projections.delivery import (
    FINGERPRINT_BITS,
    AdditionalAction,
    delivery_action_of,
    destination_of,
    event_digest,
    evolve,
    fold,
    fold_copies,
)
from schemas.events import (
    ActionResult,
    AdminActionKind,
    Attachment,
    DeliveryAction,
    DeliveryLocation,
    DetectionMethod,
    Direction,
    DynamicDelivery,
    EventSource,
    Reprocessed,
    Sender,
    ThreatType,
    Url,
)
from tests.fold_scenarios import (
    CAMPAIGN_START,
    MINUTE,
    CopyEvents,
    admin,
    original_delivery,
    release,
    reprocessed_as_phish,
    seeded_uuids,
    zap,
)

ALICE = CopyEvents("contoso", "5f0c2a4e-0000-4000-8000-000000000001", "alice@contoso.example", seeded_uuids("unit"))
# "Unknown": the codec's reader default for result symbols added by later schema versions
NOT_MOVING = [ActionResult.AlreadyInDestination, ActionResult.NotActionable, ActionResult.Failed, "Unknown"]


def at(minutes: int) -> int:
    return CAMPAIGN_START + minutes * MINUTE


def delivered(minutes: int = 0, **fields):
    return ALICE.event(at(minutes), original_delivery(**fields))


def test_original_delivery_sets_original_latest_and_message_facts():
    # given an OriginalDelivery with sender, URLs and attachments
    attachment = Attachment("invoice.html", "html", "ab" * 32, 2048)
    event = delivered(
        internet_message_id="<m1@mailer.example>",
        sender=Sender("bounce@mailer.example", "Billing@Fabrikam.example", "Fabrikam Billing", "198.51.100.4"),
        subject="Invoice overdue",
        threat_types=(ThreatType.Spam, ThreatType.Phish, ThreatType.Spam),
        detection_methods=(DetectionMethod.SpoofDmarc,),
        urls=(Url("https://b.example/x", "B.example"), Url("https://a.example/y", "a.example"),
              Url("https://b.example/z", "b.example")),
        attachments=(attachment,),
        size_bytes=4096,
    )
    # when it is folded
    state = fold([event])
    # then original and latest are the delivery's, and the facts are copied
    inbox = (DeliveryAction.Delivered, DeliveryLocation.Inbox)
    assert (state.original_delivery_action, state.original_location) == inbox
    assert (state.latest_delivery_action, state.latest_location) == inbox
    assert state.original_threat_types == state.latest_threat_types == (ThreatType.Phish, ThreatType.Spam)
    assert state.original_detection_methods == state.latest_detection_methods == (DetectionMethod.SpoofDmarc,)
    assert state.internet_message_id == "<m1@mailer.example>"
    assert state.direction == Direction.Inbound
    assert (state.sender_mail_from, state.sender_from_address, state.sender_display_name, state.sender_ip) == (
        "bounce@mailer.example", "Billing@Fabrikam.example", "Fabrikam Billing", "198.51.100.4")
    assert state.sender_domain == "fabrikam.example"
    assert state.subject == "Invoice overdue"
    assert state.urls == ("https://b.example/x", "https://a.example/y", "https://b.example/z")
    assert state.url_domains == ("a.example", "b.example")
    assert state.attachments == (attachment,)
    assert state.size_bytes == 4096
    assert state.received_at == event.occurred_at
    assert state.original_order_key == state.latest_location_order_key == event.order_key
    assert state.additional_actions == frozenset()
    assert state.copy_key == event.copy_key
    assert state.recipient_domain == "contoso.example"
    assert state.event_count == 1


def test_post_delivery_event_before_its_original_delivery_counts_and_original_stays_unknown():
    # given a ZAP that arrives before the copy's OriginalDelivery
    zapped = ALICE.event(at(30), zap())
    # when only the ZAP is folded
    early = fold([zapped])
    # then the move and the action count, the original is Unknown
    assert early.latest_location == DeliveryLocation.Quarantine
    assert early.additional_actions == {AdditionalAction.Zap}
    assert early.original_location == DeliveryLocation.Unknown
    assert early.original_delivery_action == DeliveryAction.Unknown
    assert early.original_order_key is None and early.received_at is None
    assert early.direction == Direction.Unknown and early.subject == ""
    # when the earlier OriginalDelivery arrives
    late = evolve(early, delivered(0))
    # then original is filled in and the later ZAP still decides the latest location
    assert late.original_location == DeliveryLocation.Inbox
    assert late.latest_location == DeliveryLocation.Quarantine
    assert late.latest_delivery_action == DeliveryAction.Blocked
    assert late.received_at == at(0)


def test_original_is_the_earliest_original_delivery_and_latest_the_latest():
    # given two OriginalDeliveries of one copy, the later one (by time) folded first
    first = delivered(0, location=DeliveryLocation.Junk, action=DeliveryAction.Junked, subject="first")
    second = delivered(5, location=DeliveryLocation.Inbox, action=DeliveryAction.Delivered, subject="second")
    # when folded
    state = fold([second, first])
    # then original and the facts come from the earliest, the latest location from the latest
    assert (state.original_location, state.subject) == (DeliveryLocation.Junk, "first")
    assert state.latest_location == DeliveryLocation.Inbox


def test_equal_timestamps_are_ordered_by_event_id():
    # given two events at the same microsecond
    make = lambda event_id, payload: replace(ALICE.event(at(10), payload), event_id=event_id)
    to_junk = make("00000000-0000-4000-8000-000000000001", zap(to_location=DeliveryLocation.Junk))
    to_quarantine = make("ffffffff-0000-4000-8000-000000000001", zap())
    # when folded in either order
    states = {fold([to_junk, to_quarantine]), fold([to_quarantine, to_junk])}
    # then the greater event id is the later event
    assert len(states) == 1
    assert states.pop().latest_location == DeliveryLocation.Quarantine


def test_zap_success_moves_and_not_found_sets_latest_unknown():
    # given a delivered copy
    start = fold([delivered(0)])
    # when ZAP quarantines it / finds nothing
    moved = evolve(start, ALICE.event(at(60), zap()))
    gone = evolve(start, ALICE.event(at(60), zap(ActionResult.NotFound)))
    # then
    assert moved.latest_location == DeliveryLocation.Quarantine
    assert moved.latest_delivery_action == DeliveryAction.Blocked
    assert (gone.latest_location, gone.latest_delivery_action) == (DeliveryLocation.Unknown, DeliveryAction.Unknown)
    assert gone.original_location == DeliveryLocation.Inbox


@pytest.mark.parametrize("result", NOT_MOVING)
@pytest.mark.parametrize(
    "payload_of",
    [
        lambda result: zap(result),
        lambda result: admin(AdminActionKind.SoftDelete, result),
        lambda result: release(result),
        lambda result: DynamicDelivery(1, DeliveryLocation.Inbox, result),
    ],
    ids=["zap", "admin", "release", "dynamic"],
)
def test_unsuccessful_results_move_nothing_but_are_on_the_timeline(payload_of, result):
    # given a copy in Junk
    start = fold([delivered(0, location=DeliveryLocation.Junk, action=DeliveryAction.Junked)])
    # when an action with a non-moving result is folded
    state = evolve(start, ALICE.event(at(60), payload_of(result), EventSource.Admin))
    # then the location, action and additional actions stay; the timeline grows
    assert (state.latest_location, state.latest_delivery_action) == (DeliveryLocation.Junk, DeliveryAction.Junked)
    assert state.latest_location_order_key == start.latest_location_order_key
    assert state.additional_actions == frozenset()
    assert state.event_count == 2


@pytest.mark.parametrize(
    "payload_of",
    [
        lambda: zap(ActionResult.NotFound),
        lambda: admin(AdminActionKind.HardDelete, ActionResult.NotFound),
        lambda: release(ActionResult.NotFound),
        lambda: DynamicDelivery(1, DeliveryLocation.Inbox, ActionResult.NotFound),
    ],
    ids=["zap", "admin", "release", "dynamic"],
)
def test_not_found_sets_unknown_and_is_not_an_additional_action(payload_of):
    # given a delivered copy; when any location-changing action finds nothing
    state = fold([delivered(0), ALICE.event(at(60), payload_of(), EventSource.Admin)])
    # then the latest location is Unknown and no additional action is recorded
    assert (state.latest_location, state.latest_delivery_action) == (DeliveryLocation.Unknown, DeliveryAction.Unknown)
    assert state.additional_actions == frozenset()


@pytest.mark.parametrize(
    ("action", "location", "delivery_action"),
    [
        (AdminActionKind.MoveToJunk, DeliveryLocation.Junk, DeliveryAction.Junked),
        (AdminActionKind.MoveToInbox, DeliveryLocation.Inbox, DeliveryAction.Delivered),
        (AdminActionKind.MoveToDeletedItems, DeliveryLocation.DeletedItems, DeliveryAction.Junked),
        (AdminActionKind.SoftDelete, DeliveryLocation.SoftDeleted, DeliveryAction.Blocked),
        (AdminActionKind.HardDelete, DeliveryLocation.Purged, DeliveryAction.Blocked),
    ],
)
def test_successful_admin_action_moves_to_its_destination(action, location, delivery_action):
    # given a quarantined copy; when an analyst's action succeeds
    start = fold([delivered(0, location=DeliveryLocation.Quarantine, action=DeliveryAction.Blocked)])
    state = evolve(start, ALICE.event(at(60), admin(action), EventSource.Admin))
    # then the copy is at the action's destination and the action is manual remediation
    assert destination_of(action) == location
    assert (state.latest_location, state.latest_delivery_action) == (location, delivery_action)
    assert state.additional_actions == {AdditionalAction.ManualRemediation}


def test_admin_action_by_the_system_is_automated_remediation():
    state = fold([delivered(0), ALICE.event(at(60), admin(AdminActionKind.SoftDelete), EventSource.System)])
    assert state.additional_actions == {AdditionalAction.AutomatedRemediation}


def test_quarantine_release_moves_to_its_target():
    # given a copy ZAP quarantined; when it is released to the inbox
    state = fold([delivered(0), ALICE.event(at(60), zap()), ALICE.event(at(120), release(), EventSource.Admin)])
    # then
    assert (state.latest_location, state.latest_delivery_action) == (DeliveryLocation.Inbox, DeliveryAction.Delivered)
    assert state.additional_actions == {AdditionalAction.Zap, AdditionalAction.QuarantineRelease}


@pytest.mark.parametrize(("replaced", "delivery_action"), [(2, DeliveryAction.Replaced), (0, DeliveryAction.Delivered)])
def test_dynamic_delivery_moves_and_replaced_attachments_make_it_replaced(replaced, delivery_action):
    dynamic = DynamicDelivery(replaced, DeliveryLocation.Inbox, ActionResult.Success)
    state = fold([delivered(0, location=DeliveryLocation.Quarantine, action=DeliveryAction.Blocked),
                  ALICE.event(at(3), dynamic)])
    assert (state.latest_location, state.latest_delivery_action) == (DeliveryLocation.Inbox, delivery_action)
    assert state.additional_actions == {AdditionalAction.DynamicDelivery}


def test_reprocessed_changes_the_latest_verdict_only():
    # given a clean delivered copy
    start = fold([delivered(0)])
    # when it is reprocessed as phish
    state = evolve(start, ALICE.event(at(60), reprocessed_as_phish()))
    # then the latest verdict changes, the location and the original verdict do not
    assert state.latest_threat_types == (ThreatType.Phish,)
    assert state.latest_detection_methods == (DetectionMethod.UrlDetonation,)
    assert (state.original_threat_types, state.original_detection_methods) == ((), ())
    assert state.latest_location == DeliveryLocation.Inbox
    assert state.latest_location_order_key == start.latest_location_order_key
    assert state.additional_actions == {AdditionalAction.Reprocessed}


def test_an_older_verdict_arriving_late_does_not_override_a_newer_one():
    # given a copy reprocessed as clean after it was reprocessed as phish, the clean one folded first
    as_phish = ALICE.event(at(60), reprocessed_as_phish())
    as_clean = ALICE.event(at(90), Reprocessed(threat_types=(), detection_methods=(), reason="false positive"))
    # when the older one arrives late
    state = fold([delivered(0), as_clean, as_phish])
    # then the newest verdict stands
    assert (state.latest_threat_types, state.latest_detection_methods) == ((), ())
    assert state.latest_threat_types_order_key == as_clean.order_key


def test_zap_threat_types_are_a_verdict_but_an_empty_zap_one_is_not():
    # given a copy reprocessed as phish
    start = fold([delivered(0), ALICE.event(at(60), reprocessed_as_phish())])
    # when a later malware ZAP with threat types / a later ZAP without threat types is folded
    with_threats = evolve(start, ALICE.event(at(70), zap(threat_types=(ThreatType.Malware,))))
    without = evolve(start, ALICE.event(at(70), zap(threat_types=())))
    # then only the one with threat types changes the latest threat types; neither has methods
    assert with_threats.latest_threat_types == (ThreatType.Malware,)
    assert with_threats.latest_detection_methods == (DetectionMethod.UrlDetonation,)
    assert without.latest_threat_types == (ThreatType.Phish,)


def test_a_move_arriving_late_does_not_override_a_later_move():
    # given a quarantine at minute 60 and a soft delete at minute 120, folded newest first
    quarantined = ALICE.event(at(60), zap())
    soft_deleted = ALICE.event(at(120), admin(AdminActionKind.SoftDelete), EventSource.Admin)
    state = fold([soft_deleted, delivered(0), quarantined])
    # then the latest move stands and both actions count
    assert state.latest_location == DeliveryLocation.SoftDeleted
    assert state.latest_location_order_key == soft_deleted.order_key
    assert state.additional_actions == {AdditionalAction.Zap, AdditionalAction.ManualRemediation}


def test_first_and_last_event_times_span_all_events():
    state = fold([ALICE.event(at(60), zap()), delivered(0), ALICE.event(at(30), reprocessed_as_phish())])
    assert (state.first_event_at, state.last_event_at) == (at(0), at(60))


def test_a_duplicate_event_returns_the_state_unchanged():
    # given a folded event; when the same event is folded again
    event = delivered(0)
    once = fold([event])
    # then nothing changes, not even the version
    assert evolve(once, event) is once


def test_version_is_the_event_count_over_a_fingerprint_of_the_event_ids():
    # given three events
    events = [delivered(0), ALICE.event(at(60), zap()), ALICE.event(at(30), reprocessed_as_phish())]
    # when folded
    state = fold(events)
    # then the version is count << 40 | xor of the ids' digests, masked to 40 bits
    digests = {event_digest(event.event_id) for event in events}
    assert state.event_digests == digests
    assert state.version == 3 << FINGERPRINT_BITS | reduce(xor, digests) & ((1 << FINGERPRINT_BITS) - 1)


def test_event_of_another_copy_is_refused():
    state = fold([delivered(0)])
    bob = CopyEvents("contoso", ALICE.network_message_id, "bob@contoso.example", seeded_uuids("bob"))
    with pytest.raises(ValueError, match="bob@contoso.example"):
        evolve(state, bob.event(at(1), zap()))


def test_fold_of_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one event"):
        fold([])


def test_fold_copies_keys_states_by_copy():
    # given events of two copies of one message
    bob = CopyEvents("contoso", ALICE.network_message_id, "bob@contoso.example", seeded_uuids("bob"))
    alice_events = [delivered(0), ALICE.event(at(60), zap())]
    bob_events = [bob.event(at(0), original_delivery())]
    # when folded together, in two batches
    first = fold_copies(alice_events[:1] + bob_events)
    states = fold_copies(alice_events[1:], first)
    # then each copy has its own state, and the first batch's dict is left alone
    assert states == {ALICE.copy_key: fold(alice_events), bob.copy_key: fold(bob_events)}
    assert first[ALICE.copy_key] == fold(alice_events[:1])


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (DeliveryLocation.Inbox, DeliveryAction.Delivered),
        (DeliveryLocation.OnPremExternal, DeliveryAction.Delivered),
        (DeliveryLocation.Junk, DeliveryAction.Junked),
        (DeliveryLocation.DeletedItems, DeliveryAction.Junked),
        (DeliveryLocation.Quarantine, DeliveryAction.Blocked),
        (DeliveryLocation.Failed, DeliveryAction.Blocked),
        (DeliveryLocation.Dropped, DeliveryAction.Blocked),
        (DeliveryLocation.SoftDeleted, DeliveryAction.Blocked),
        (DeliveryLocation.Purged, DeliveryAction.Blocked),
        (DeliveryLocation.Unknown, DeliveryAction.Unknown),
    ],
)
def test_delivery_action_of_every_location(location, expected):
    assert delivery_action_of(location) == expected


def test_every_location_has_a_delivery_action_and_every_admin_action_a_destination():
    # guards the mappings when events.py gains symbols
    unmapped = [loc for loc in DeliveryLocation if loc != DeliveryLocation.Unknown
                and delivery_action_of(loc) == DeliveryAction.Unknown]
    undirected = [kind for kind in AdminActionKind
                  if kind != "Unknown" and destination_of(kind) == DeliveryLocation.Unknown]
    assert unmapped == [] and undirected == []


@pytest.mark.parametrize("kind", ["Unknown", "ArchiveToMars"])
def test_admin_action_of_a_kind_unknown_to_this_version_moves_to_unknown(kind):
    state = fold([delivered(0), ALICE.event(at(60), admin(kind), EventSource.Admin)])
    assert state.latest_location == DeliveryLocation.Unknown
