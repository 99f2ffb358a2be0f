"""The phishing-campaign scenario folded as a consumer would see it: shuffled, partly duplicated."""
import random

import pytest

from projections.delivery import fold_copies
from schemas.events import DeliveryLocation
from tests.fold_scenarios import phishing_campaign


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_campaign_folds_to_its_expected_outcome_in_any_arrival_order(seed):
    # given the campaign's events and expectations
    events, expected = phishing_campaign("contoso", seed, n_recipients=60)
    # when they arrive shuffled with a third of them delivered twice
    rng = random.Random(seed)
    arrived = events + rng.sample(events, len(events) // 3)
    rng.shuffle(arrived)
    states = fold_copies(arrived)
    # then every copy is where the story says, with its actions and its timeline
    assert states.keys() == expected.keys()
    for copy_key, outcome in expected.items():
        state = states[copy_key]
        assert state.original_location == outcome.original_location, copy_key
        assert state.latest_location == outcome.latest_location, copy_key
        assert state.additional_actions == outcome.additional_actions, copy_key
        assert state.event_count == outcome.timeline_events, copy_key
        assert state.latest_threat_types == outcome.latest_threat_types, copy_key


def test_campaign_is_deterministic_per_seed_and_distinct_across_seeds():
    # given the same and another seed
    first, _ = phishing_campaign("contoso", 7)
    again, _ = phishing_campaign("contoso", 7)
    other, _ = phishing_campaign("contoso", 8)
    # then one seed gives the same events, event ids are unique, and seeds do not share ids
    assert first == again
    ids = {event.event_id for event in first}
    assert len(ids) == len(first)
    assert ids.isdisjoint(event.event_id for event in other)


def test_campaign_covers_every_story_line():
    # given the default campaign; then ZAP quarantined most copies and every other outcome occurs
    _, expected = phishing_campaign("contoso", 1)
    latest = [outcome.latest_location for outcome in expected.values()]
    assert latest.count(DeliveryLocation.Quarantine) > len(latest) / 2
    assert {DeliveryLocation.Inbox, DeliveryLocation.SoftDeleted, DeliveryLocation.Unknown} <= set(latest)
    originals = {outcome.original_location for outcome in expected.values()}
    assert originals == {DeliveryLocation.Inbox, DeliveryLocation.Junk}


def test_campaign_needs_a_recipient_per_role():
    with pytest.raises(ValueError, match="at least 8"):
        phishing_campaign("contoso", 1, n_recipients=3)
