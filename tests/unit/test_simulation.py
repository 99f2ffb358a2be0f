"""The traffic generator: deterministic, valid, realistic in its mix, causal per copy, and folding to
locations an analyst would expect."""
import itertools
from collections import Counter, defaultdict

import pytest

from projections.delivery import AdditionalAction, fold_copies
from schemas.events import (
    ActionResult,
    AdminAction,
    DeliveryAction,
    DeliveryLocation,
    Direction,
    EventSource,
    OriginalDelivery,
    PAYLOAD_TYPES,
    QuarantineReleased,
    ThreatType,
    ZapMoved,
    ZapType,
)
from schemas.validation import validate
from streams.simulation import (
    DEFAULT_MIX,
    HOUR,
    SECOND,
    ZAP_WINDOW,
    SimulationPlan,
    mail_time_span,
    message_gap_for,
    simulate,
)

START = 1_796_083_200 * SECOND  # 2026-12-01T00:00:00Z
SAMPLE = 40_000


def plan(seed: int = 7, tenants: tuple[str, ...] = ("contoso", "fabrikam"), **changes) -> SimulationPlan:
    return SimulationPlan(tenants=tenants, seed=seed, start_us=START, **changes)


@pytest.fixture(scope="module")
def sample():
    return list(itertools.islice(simulate(plan(message_gap_us=4 * SECOND)), SAMPLE))


@pytest.fixture(scope="module")
def copies(sample):
    by_copy = defaultdict(list)
    for position, event in enumerate(sample):
        by_copy[event.copy_key].append((position, event))
    return by_copy


def test_same_plan_gives_the_same_events_and_another_seed_other_ids():
    # given two runs of one plan and a run with another seed
    first = list(itertools.islice(simulate(plan(seed=11)), 3000))
    again = list(itertools.islice(simulate(plan(seed=11)), 3000))
    other = list(itertools.islice(simulate(plan(seed=12)), 3000))
    # then the runs are equal, ids included, and the other seed shares no id
    assert first == again
    assert len({e.event_id for e in first}) == len(first)
    assert {e.event_id for e in first}.isdisjoint(e.event_id for e in other)
    assert {e.network_message_id for e in first}.isdisjoint(e.network_message_id for e in other)


def test_taking_more_events_extends_the_stream_without_changing_its_start():
    short = list(itertools.islice(simulate(plan(seed=3)), 500))
    longer = list(itertools.islice(simulate(plan(seed=3)), 2000))
    assert longer[:500] == short


def test_every_event_is_valid(sample):
    clock = lambda: START + 30 * 24 * HOUR  # noqa: E731 — the sample's mail time, not the wall clock
    for event in sample:
        assert validate(event, clock=clock) is event


def test_the_mix_has_every_kind_and_is_mostly_clean(sample):
    types = Counter(e.type for e in sample)
    assert set(types) == set(PAYLOAD_TYPES)
    deliveries = [e.payload for e in sample if isinstance(e.payload, OriginalDelivery)]
    assert {d.delivery_action for d in deliveries} >= {DeliveryAction.Delivered, DeliveryAction.Junked, DeliveryAction.Blocked}
    assert {d.direction for d in deliveries} == {Direction.Inbound, Direction.Outbound, Direction.IntraOrg}
    assert {t for d in deliveries for t in d.threat_types} == {ThreatType.Phish, ThreatType.Malware, ThreatType.Spam,
                                                               ThreatType.Bulk}
    clean = sum(1 for d in deliveries if not d.threat_types and d.delivery_action == DeliveryAction.Delivered)
    assert clean / len(deliveries) > 0.5
    zaps = Counter((e.payload.zap_type, e.payload.result) for e in sample if isinstance(e.payload, ZapMoved))
    assert {zap_type for zap_type, _ in zaps} == {ZapType.PhishZap, ZapType.HighConfidencePhishZap, ZapType.MalwareZap,
                                                  ZapType.SpamZap}
    assert {result for _, result in zaps} >= {ActionResult.Success, ActionResult.NotFound}
    admin = [e for e in sample if isinstance(e.payload, AdminAction)]
    assert all(e.source == EventSource.Admin and e.payload.actor and e.payload.request_id for e in admin)
    assert {e.payload.result for e in admin} >= {ActionResult.Success, ActionResult.NotFound}
    releases = [e for e in sample if isinstance(e.payload, QuarantineReleased)]
    assert {e.source for e in releases} == {EventSource.Admin, EventSource.User}
    assert {e.tenant_id for e in sample} == {"contoso", "fabrikam"}


def test_campaigns_reach_many_recipients_with_one_request_per_clean_up(sample):
    recipients_of = defaultdict(set)
    for event in sample:
        if isinstance(event.payload, OriginalDelivery) and ThreatType.Phish in event.payload.threat_types:
            recipients_of[event.payload.subject, event.payload.sender.from_address].add(event.recipient)
    assert max(len(r) for r in recipients_of.values()) >= 5
    copies_per_request = Counter(e.payload.request_id for e in sample if isinstance(e.payload, AdminAction))
    assert max(copies_per_request.values()) >= 10


def test_post_delivery_events_follow_their_delivery_and_zap_stays_in_its_window(copies):
    in_stream_order = late = 0
    for key, events in copies.items():
        deliveries = [(position, e) for position, e in events if isinstance(e.payload, OriginalDelivery)]
        follow_ups = [(position, e) for position, e in events if not isinstance(e.payload, OriginalDelivery)]
        if not deliveries or not follow_ups:
            continue
        assert len(deliveries) == 1, key
        delivered_position, delivery = deliveries[0]
        for position, event in follow_ups:
            # in mail time, always after the delivery; ZAP within its 48 h look-back
            assert event.occurred_at > delivery.occurred_at, key
            if isinstance(event.payload, ZapMoved):
                assert event.occurred_at - delivery.occurred_at < ZAP_WINDOW, key
        if delivered_position < min(position for position, _ in follow_ups):
            in_stream_order += 1
        else:
            late += 1
    # in the stream, most copies show their delivery first; a few deliveries arrive late
    assert late >= 1
    assert in_stream_order / (in_stream_order + late) > 0.95


def test_the_stream_is_in_mail_time_order_apart_from_late_deliveries(sample):
    follow_up_times = [e.occurred_at for e in sample if not isinstance(e.payload, OriginalDelivery)]
    assert follow_up_times == sorted(follow_up_times)
    assert sample[0].occurred_at >= START


def test_folded_copies_end_where_their_last_action_put_them(sample):
    states = fold_copies(sample)
    last_move = {}
    for event in sorted(sample, key=lambda e: e.order_key):
        payload = event.payload
        moved = isinstance(payload, (ZapMoved, AdminAction, QuarantineReleased)) and payload.result in (
            ActionResult.Success, ActionResult.NotFound)
        if isinstance(payload, OriginalDelivery) or moved:
            last_move[event.copy_key] = event
    locations = Counter()
    for key, state in states.items():
        event = last_move.get(key)
        if event is None:  # only post-delivery events of this copy were taken so far
            continue
        locations[state.latest_location] += 1
        payload = event.payload
        if isinstance(payload, ZapMoved) and payload.result == ActionResult.Success:
            assert state.latest_location in (DeliveryLocation.Quarantine, DeliveryLocation.Junk), key
            if payload.zap_type in (ZapType.MalwareZap, ZapType.HighConfidencePhishZap):
                assert state.latest_location == DeliveryLocation.Quarantine, key
            if payload.zap_type == ZapType.SpamZap:
                assert state.latest_location == DeliveryLocation.Junk, key
            assert AdditionalAction.Zap in state.additional_actions
        elif isinstance(payload, ZapMoved):
            assert state.latest_location == DeliveryLocation.Unknown, key
        elif isinstance(payload, QuarantineReleased):
            assert state.latest_location == DeliveryLocation.Inbox, key
        if state.original_location == DeliveryLocation.Quarantine:
            assert state.original_delivery_action == DeliveryAction.Blocked, key
    assert locations.most_common(1)[0][0] == DeliveryLocation.Inbox
    assert {DeliveryLocation.Inbox, DeliveryLocation.Junk, DeliveryLocation.Quarantine, DeliveryLocation.OnPremExternal,
            DeliveryLocation.Unknown} <= set(locations)


def test_a_stream_bounded_in_mail_time_stops_before_its_bound():
    bound = START + 2 * HOUR
    events = list(simulate(plan(not_after_us=bound)))
    assert events and max(e.occurred_at for e in events) <= bound


def test_one_tenant_and_a_narrow_mix_are_honoured():
    events = list(itertools.islice(simulate(plan(tenants=("solo",), mix={"spam": 1.0})), 2000))
    assert {e.tenant_id for e in events} == {"solo"}
    assert all(ThreatType.Phish not in getattr(e.payload, "threat_types", ()) for e in events)


def test_plans_with_unknown_kinds_or_no_tenant_are_refused():
    with pytest.raises(ValueError, match="unknown story kinds"):
        plan(mix={"ransomware": 1.0})
    with pytest.raises(ValueError, match="at least one tenant"):
        plan(tenants=())
    assert set(DEFAULT_MIX) == {"clean", "bulk", "spam", "dynamic_delivery", "false_positive", "phish_campaign",
                                "malware_campaign"}


def test_message_gap_spreads_a_run_over_at_most_a_week_within_bounds():
    week = 7 * 24 * HOUR
    assert message_gap_for(10) == 2 * SECOND        # a small run: a busy tenant's pace
    assert message_gap_for(10**12) == 1000          # a huge run: no denser than 1 ms
    gap = message_gap_for(2_000_000)
    assert 1000 < gap < 2 * SECOND
    assert mail_time_span(2_000_000, gap) == pytest.approx(week, rel=0.01)
    assert message_gap_for(2_000_000, window_us=week // 7) < gap
