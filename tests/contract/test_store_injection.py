"""Hostile strings through every filter and lookup: values are bound, so each one either matches
exactly what holds it, matches nothing, or is refused as not a known symbol — and every table is
still there afterwards."""
from __future__ import annotations

import uuid

import pytest

from projections.delivery import fold_copies
from projections.queries import FACETS, EmailQuery
from schemas.events import Sender
from tests.contract.conftest import mail_corpus
from tests.contract.test_store_queries import FACET_VALUES
from tests.fold_scenarios import CAMPAIGN_START, CopyEvents, original_delivery, seeded_uuids

HOSTILE = (
    "' OR 1=1 --",
    "\\'); DROP TABLE email_state; --",
    "'); DROP TABLE email_events; --",
    "%(x)s",
    "%s %% %",
    "{x:String}",
    "{p0:String}",
    "back\\slash\\",
    "\\N",
    "nul\x00byte",
    "tab\tnew\nline\rret",
    "ünïcödé ☃ 😀",
    '" OR ""="',
    "`x`",
)


def hostile_message(tenant_id: str, text: str) -> list:
    """One copy whose free-text facts are all `text`."""
    new_id = seeded_uuids(f"hostile:{tenant_id}:{text}")
    copy = CopyEvents(tenant_id, new_id(), f"victim@{tenant_id}.example", new_id)
    delivery = original_delivery(internet_message_id=text, subject=f"before {text} after",
                                 sender=Sender(text, text, text, text))
    return [copy.event(CAMPAIGN_START, delivery)]


@pytest.fixture
def hostile_corpus(projection_store, tenant_id):
    events, states = mail_corpus(tenant_id, messages=4)
    projection_store.write(events, list(states.values()))
    hostile = {}
    for text in HOSTILE:
        message = hostile_message(tenant_id, text)
        hostile[text] = message[0]
        states.update(fold_copies(message))
        projection_store.write(message, list(fold_copies(message).values()))
    return states, hostile


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_through_every_filter_match_exactly_or_nothing(projection_store, hostile_corpus, tenant_id, text):
    states, hostile = hostile_corpus
    holder = hostile[text]
    everything = len(states)
    for facet_name, facet in FACETS.items():
        if facet.symbols is not None:
            with pytest.raises(ValueError, match=rf"^any_of\.{facet_name}:"):
                EmailQuery(tenant_id, any_of={facet_name: [text]})
            continue
        value = text.strip().lower() if facet.lower_case else text
        expected = sorted(s.network_message_id for s in states.values() if value in FACET_VALUES[facet_name](s))
        found = projection_store.emails(EmailQuery(tenant_id, any_of={facet_name: [text]}, limit=1000)).emails
        assert sorted(e.network_message_id for e in found) == expected, facet_name
        others = projection_store.emails(EmailQuery(tenant_id, none_of={facet_name: [text]}, limit=1000)).emails
        assert len(others) == everything - len(expected), facet_name
    assert FACETS["sender_display_name"].symbols is None  # so the holder was found by one facet at least
    assert projection_store.emails(EmailQuery(tenant_id, any_of={"sender_display_name": [text]})).emails[0] \
        .network_message_id == holder.network_message_id
    by_subject = projection_store.emails(EmailQuery(tenant_id, subject_contains=text)).emails
    assert [e.network_message_id for e in by_subject] == [holder.network_message_id]
    assert projection_store.emails(EmailQuery(text)).emails == []
    assert projection_store.timeline(text, tenant_id) == [] and projection_store.timeline(holder.network_message_id,
                                                                                       text, text) == []
    assert projection_store.email_details(tenant_id, text) == []
    assert projection_store.email_details(text, holder.network_message_id, text) == []
    assert projection_store.copy_states(text, [(text, text)]) == {}
    assert projection_store.similar(tenant_id, text) == []
    assert projection_store.chart(EmailQuery(tenant_id, any_of={"url": [text]})) == []
    # and nothing was dropped or altered
    assert len(projection_store.emails(EmailQuery(tenant_id, limit=1000)).emails) == everything
    assert [e.event_id for e in projection_store.timeline(holder.network_message_id, tenant_id)] == [holder.event_id]
    assert projection_store.email_details(tenant_id, holder.network_message_id)[0].subject == f"before {text} after"


def test_a_hostile_tenant_id_or_cursor_is_harmless(projection_store, tenant_id):
    for text in HOSTILE:
        assert projection_store.emails(EmailQuery(text, any_of={"recipient": [text]})).emails == []
        with pytest.raises(ValueError, match="^cursor:"):
            EmailQuery(tenant_id, cursor=text)
    assert projection_store.copy_state(tenant_id, str(uuid.uuid4()), "x@y.example") is None
