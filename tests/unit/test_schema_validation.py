"""Validation: the time window follows the injected clock, valid events pass unchanged."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given

from schemas.validation import (
    EARLIEST_OCCURRED_AT, MAX_CLOCK_SKEW_MICROS, ValidationError, normalize_address, validate,
)
from tests.malformed_corpus import DELIVERY
from tests.strategies import FIXED_CLOCK, FIXED_NOW, addresses, events


@given(event=events())
def test_valid_events_pass_unchanged(event):
    assert validate(event, clock=FIXED_CLOCK) is event


def test_the_future_limit_is_one_day_after_the_injected_clock():
    at_limit = dataclasses.replace(DELIVERY, occurred_at=FIXED_NOW + MAX_CLOCK_SKEW_MICROS)
    assert validate(at_limit, clock=FIXED_CLOCK) is at_limit
    with pytest.raises(ValidationError) as raised:
        validate(dataclasses.replace(at_limit, occurred_at=at_limit.occurred_at + 1), clock=FIXED_CLOCK)
    assert (raised.value.reason, raised.value.field) == ("too_late", "occurred_at")


def test_the_past_limit_is_the_year_2000():
    first = dataclasses.replace(DELIVERY, occurred_at=EARLIEST_OCCURRED_AT)
    assert validate(first, clock=FIXED_CLOCK) is first
    with pytest.raises(ValidationError) as raised:
        validate(dataclasses.replace(first, occurred_at=EARLIEST_OCCURRED_AT - 1), clock=FIXED_CLOCK)
    assert raised.value.reason == "too_early"


@given(address=addresses)
def test_normalisation_is_idempotent_and_undoes_case_and_padding(address):
    assert normalize_address(f"  {address.upper()}\t") == address
    assert normalize_address(normalize_address(address)) == address


def test_an_unnormalised_recipient_is_rejected():
    with pytest.raises(ValidationError) as raised:
        validate(dataclasses.replace(DELIVERY, recipient="Alice@contoso.com"), clock=FIXED_CLOCK)
    assert (raised.value.reason, raised.value.field) == ("bad_address", "recipient")
