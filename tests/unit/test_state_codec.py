"""The worker's table format for copy states: every state the fold can produce reads back equal,
field by field and in type (enum members, not their values), and tables written by earlier
workers (pickled `CopyState`) are still readable."""
from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given

from projections.delivery import CopyState, fold
from streams.state_codec import decode_state, encode_state
from tests.unit.test_fold_properties import event_sets


def assert_identical(read: CopyState, state: CopyState) -> None:
    assert read == state
    for field in dataclasses.fields(CopyState):
        value, expected = getattr(read, field.name), getattr(state, field.name)
        assert type(value) is type(expected), field.name
        if isinstance(expected, (tuple, frozenset)):
            assert sorted(map(type, value), key=str) == sorted(map(type, expected), key=str), field.name


@given(event_sets)
def test_every_folded_state_reads_back_identical(events_of_copy):
    state = fold(events_of_copy)
    assert_identical(decode_state(encode_state(state)), state)


@given(event_sets)
def test_a_state_pickled_by_an_earlier_worker_is_still_read(events_of_copy):
    state = fold(events_of_copy)
    assert_identical(decode_state(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)), state)


def test_the_format_holds_no_enum_or_dataclass_references():
    from tests.fold_scenarios import CAMPAIGN_START, CopyEvents, original_delivery, seeded_uuids
    copy = CopyEvents("contoso", "m-1", "alice@contoso.example", seeded_uuids("codec"))
    raw = encode_state(fold([copy.event(CAMPAIGN_START, original_delivery())]))
    assert b"schemas.events" not in raw and b"projections" not in raw and b"enum" not in raw


def test_a_state_of_another_shape_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="different inboxtrail version"):
        decode_state(pickle.dumps(("too", "short")))
