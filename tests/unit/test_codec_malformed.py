"""Every malformed message in the corpus is classified with exactly its expected reason."""
from __future__ import annotations

import pytest

from schemas.codec import classify, decode
from schemas.validation import validate
from tests.malformed_corpus import CORPUS, DELIVERY, EXPECTED_FIELDS, VALID


def test_the_corpus_has_at_least_thirty_distinct_entries():
    assert len(CORPUS) >= 30
    assert len({name for name, _, _ in CORPUS}) == len(CORPUS)
    assert len({raw for _, raw, _ in CORPUS}) == len(CORPUS)


def test_the_event_the_corpus_breaks_is_itself_valid():
    assert classify(VALID) == (DELIVERY, None, None)


@pytest.mark.parametrize(("name", "raw", "reason"), CORPUS, ids=[name for name, _, _ in CORPUS])
def test_malformed_message_yields_its_reason(name, raw, reason):
    # when a worker classifies the message
    event, got_reason, field = classify(raw)
    # then it is rejected with exactly the expected reason and field
    assert event is None
    assert got_reason == reason
    if name in EXPECTED_FIELDS:
        assert field == EXPECTED_FIELDS[name]


def test_classify_agrees_with_decode_then_validate():
    for name, raw, reason in CORPUS:
        try:
            validate(decode(raw))
        except ValueError as error:
            assert error.reason == reason, name
        else:
            raise AssertionError(f"{name} was accepted")
