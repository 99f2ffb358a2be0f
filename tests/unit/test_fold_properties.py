"""Properties of the delivery fold over generated event sets of one copy (DESIGN.md "Fold semantics"):
permutation- and duplicate-invariance, replay idempotency, rebuild = live, version monotonicity,
and agreement with a naive replay of the events sorted by order key."""
from hypothesis import given
from hypothesis import strategies as st

from projections.delivery import AdditionalAction, CopyState, destination_of, evolve, fold
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
    QuarantineReleased,
    Reprocessed,
    Sender,
    ThreatType,
    Url,
    ZapMoved,
    ZapType,
)
from tests.fold_scenarios import CAMPAIGN_START, MINUTE

TENANT, MESSAGE, RECIPIENT = "contoso", "5f0c2a4e-0000-4000-8000-00000000000a", "alice@contoso.example"

# few distinct minutes, so equal timestamps with different event ids are common
times = st.integers(0, 5).map(lambda minute: CAMPAIGN_START + minute * MINUTE)
locations = st.sampled_from(list(DeliveryLocation))
results = st.sampled_from(list(ActionResult))
threat_types = st.lists(st.sampled_from(list(ThreatType)), max_size=3).map(tuple)
detection_methods = st.lists(st.sampled_from(list(DetectionMethod)), max_size=3).map(tuple)
words = st.sampled_from(["a", "b", "c"])

original_deliveries = st.builds(
    OriginalDelivery,
    internet_message_id=words.map(lambda word: f"<{word}@mailer.example>"),
    direction=st.sampled_from(list(Direction)),
    sender=st.builds(Sender, mail_from=words, from_address=words.map(lambda word: f"{word}@{word}.example"),
                     display_name=words, ip=st.sampled_from(["192.0.2.1", "2001:db8::1"])),
    subject=words,
    delivery_action=st.sampled_from(list(DeliveryAction)),
    delivery_location=locations,
    threat_types=threat_types,
    detection_methods=detection_methods,
    urls=st.lists(st.builds(Url, url=words.map(lambda word: f"https://{word}.example/"), domain=words),
                  max_size=2).map(tuple),
    attachments=st.lists(st.builds(Attachment, file_name=words, file_type=words, sha256=words, size=st.integers(0, 9)),
                         max_size=1).map(tuple),
    size_bytes=st.integers(0, 10_000),
)
payloads = st.one_of(
    original_deliveries,
    st.builds(ZapMoved, zap_type=st.sampled_from(list(ZapType)), to_location=locations, result=results,
              threat_types=threat_types),
    st.builds(AdminAction, action=st.sampled_from(list(AdminActionKind)), actor=words, request_id=words,
              result=results),
    st.builds(QuarantineReleased, actor=words, to_location=locations, result=results),
    st.builds(DynamicDelivery, attachments_replaced=st.integers(0, 2), to_location=locations, result=results),
    st.builds(Reprocessed, threat_types=threat_types, detection_methods=detection_methods),
)
events = st.builds(
    MailFlowEvent,
    event_id=st.uuids().map(str),
    tenant_id=st.just(TENANT),
    network_message_id=st.just(MESSAGE),
    recipient=st.just(RECIPIENT),
    occurred_at=times,
    source=st.sampled_from(list(EventSource)),
    payload=payloads,
)
event_sets = st.lists(events, min_size=1, max_size=12, unique_by=lambda event: event.event_id)


@st.composite
def arrivals(draw, events_of_copy: list[MailFlowEvent]) -> list[MailFlowEvent]:
    """The events as a consumer may see them: any order, some delivered more than once."""
    duplicates = draw(st.lists(st.sampled_from(events_of_copy), max_size=len(events_of_copy)))
    return draw(st.permutations(events_of_copy + duplicates))


@given(event_sets, st.data())
def test_any_permutation_with_duplicates_folds_to_the_same_state(events_of_copy, data):
    # given the events of one copy; when they arrive shuffled and partly duplicated
    arrived = data.draw(arrivals(events_of_copy))
    # then the state is the state of the set
    assert fold(arrived) == fold(events_of_copy)


@given(event_sets, st.data())
def test_replaying_a_prefix_changes_nothing(events_of_copy, data):
    # given the state of a copy's whole log
    state = fold(events_of_copy)
    # when any prefix of the log is replayed onto it, once or twice
    prefix = events_of_copy[: data.draw(st.integers(0, len(events_of_copy)))]
    # then nothing changes
    assert fold(prefix, state) == state
    assert fold(prefix + prefix, state) == state


@given(event_sets, st.data())
def test_rebuild_then_live_equals_live(events_of_copy, data):
    # given live arrival (shuffled, duplicated) and a rebuild that read part of the log in order
    arrived = data.draw(arrivals(events_of_copy))
    log = sorted(events_of_copy, key=lambda event: event.order_key)
    rebuilt = fold(log[: data.draw(st.integers(1, len(log)))])
    # when the worker resumes from the rebuilt state and sees every event again
    resumed = rebuilt
    for event in arrived:
        resumed = evolve(resumed, event)
    # then it is the live state
    assert resumed == fold(arrived)


@given(event_sets, st.data())
def test_version_grows_on_every_new_event_and_only_then(events_of_copy, data):
    # given events arriving shuffled with duplicates
    arrived = data.draw(arrivals(events_of_copy))
    state: CopyState | None = None
    seen: set[str] = set()
    for event in arrived:
        # when each is folded
        after = evolve(state, event)
        # then a new event raises the version, a duplicate leaves the state as it was
        if event.event_id in seen:
            assert after == state
        else:
            assert after.version > (state.version if state else 0)
        seen.add(event.event_id)
        state = after
    assert state.event_count == len(events_of_copy)


@given(event_sets, st.data())
def test_equal_versions_mean_equal_event_sets_and_states(events_of_copy, data):
    # given two subsets of one copy's events
    subset = st.lists(st.sampled_from(events_of_copy), min_size=1, unique_by=lambda event: event.event_id)
    first, second = data.draw(subset), data.draw(subset)
    # when both are folded
    first_state, second_state = fold(first), fold(second)
    # then the versions are equal exactly when the sets are, and equal versions mean equal states
    same_set = {event.event_id for event in first} == {event.event_id for event in second}
    assert (first_state.version == second_state.version) == same_set
    if same_set:
        assert first_state == second_state


def replay_in_order(events_of_copy: list[MailFlowEvent]) -> dict[str, object]:
    """The fold's rules restated as the naive batch job: walk the events in order-key order and
    let each one overwrite what it states."""
    spec: dict[str, object] = {
        "original_location": DeliveryLocation.Unknown, "latest_location": DeliveryLocation.Unknown,
        "latest_threat_types": (), "additional_actions": set(),
    }
    for event in sorted(events_of_copy, key=lambda event: event.order_key):
        payload = event.payload
        if isinstance(payload, OriginalDelivery):
            if "original" not in spec:
                spec["original"] = event
                spec["original_location"] = payload.delivery_location
            spec["latest_location"] = payload.delivery_location
            spec["latest_threat_types"] = tuple(sorted(set(payload.threat_types)))
        elif isinstance(payload, Reprocessed):
            spec["latest_threat_types"] = tuple(sorted(set(payload.threat_types)))
            spec["additional_actions"].add(AdditionalAction.Reprocessed)
        else:
            if isinstance(payload, ZapMoved) and payload.threat_types:
                spec["latest_threat_types"] = tuple(sorted(set(payload.threat_types)))
            if payload.result == ActionResult.NotFound:
                spec["latest_location"] = DeliveryLocation.Unknown
            elif payload.result == ActionResult.Success:
                spec["latest_location"] = (
                    destination_of(payload.action) if isinstance(payload, AdminAction) else payload.to_location)
                spec["additional_actions"].add({
                    ZapMoved: AdditionalAction.Zap,
                    QuarantineReleased: AdditionalAction.QuarantineRelease,
                    DynamicDelivery: AdditionalAction.DynamicDelivery,
                    AdminAction: (AdditionalAction.AutomatedRemediation if event.source == EventSource.System
                                  else AdditionalAction.ManualRemediation),
                }[type(payload)])
    return spec


@given(event_sets, st.data())
def test_fold_in_any_order_agrees_with_the_in_order_replay(events_of_copy, data):
    # given a copy's events in arrival order; when folded
    state = fold(data.draw(arrivals(events_of_copy)))
    # then every register holds what the in-order replay says
    spec = replay_in_order(events_of_copy)
    assert state.original_location == spec["original_location"]
    assert state.latest_location == spec["latest_location"]
    assert state.latest_threat_types == spec["latest_threat_types"]
    assert state.additional_actions == spec["additional_actions"]
    assert state.original_order_key == (spec["original"].order_key if "original" in spec else None)
    assert state.first_event_at == min(event.occurred_at for event in events_of_copy)
    assert state.last_event_at == max(event.occurred_at for event in events_of_copy)
