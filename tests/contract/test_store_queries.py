"""Read side of the store contract: filters, paging, sorting, chart, details, similar, timeline.

Expected results come from an oracle over the folded states in Python (`FACET_VALUES`), so every
facet of `projections.queries.FACETS` is tested against both stores the same way."""
from __future__ import annotations

from collections import Counter

import pytest

from projections.queries import FACETS, PIVOTS, EmailQuery
from tests.contract.conftest import mail_corpus
from tests.fold_scenarios import CAMPAIGN_START, HOUR

# facet → the values a copy has for it (the oracle)
FACET_VALUES = {
    "network_message_id": lambda s: {s.network_message_id},
    "internet_message_id": lambda s: {s.internet_message_id},
    "recipient": lambda s: {s.recipient},
    "recipient_domain": lambda s: {s.recipient_domain},
    "sender_mail_from": lambda s: {s.sender_mail_from},
    "sender_from_address": lambda s: {s.sender_from_address},
    "sender_display_name": lambda s: {s.sender_display_name},
    "sender_domain": lambda s: {s.sender_domain},
    "sender_ip": lambda s: {s.sender_ip},
    "direction": lambda s: {str(s.direction)},
    "delivery_action": lambda s: {str(s.original_delivery_action)},
    "latest_delivery_action": lambda s: {str(s.latest_delivery_action)},
    "original_location": lambda s: {str(s.original_location)},
    "latest_location": lambda s: {str(s.latest_location)},
    "threat_type": lambda s: set(s.latest_threat_types),
    "original_threat_type": lambda s: set(s.original_threat_types),
    "detection_method": lambda s: set(s.latest_detection_methods),
    "original_detection_method": lambda s: set(s.original_detection_methods),
    "additional_action": lambda s: {a.name for a in s.additional_actions},
    "url": lambda s: set(s.urls),
    "url_domain": lambda s: set(s.url_domains),
    "attachment_name": lambda s: {a.file_name for a in s.attachments},
    "attachment_type": lambda s: {a.file_type for a in s.attachments},
    "attachment_sha256": lambda s: {a.sha256 for a in s.attachments},
}


def listed(store, query: EmailQuery) -> set[tuple[str, str]]:
    """Every copy the query selects, across all pages."""
    found, cursor = [], None
    while True:
        page = store.emails(EmailQuery(**{**query.__dict__, "cursor": cursor}))
        found += [(e.network_message_id, e.recipient) for e in page.emails]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(found) == len(set(found)), "paging repeated a copy"
    return set(found)


def keys(states) -> set[tuple[str, str]]:
    return {(s.network_message_id, s.recipient) for s in states}


def test_the_oracle_covers_every_facet():
    assert set(FACET_VALUES) == set(FACETS)


@pytest.mark.parametrize("facet", sorted(FACETS))
def test_every_facet_filters_equal_any_of_and_none_of(projection_store, corpus, tenant_id, facet):
    _, states = corpus
    of = FACET_VALUES[facet]
    counts = Counter(value for state in states.values() for value in of(state))
    # the two most common values (one for single-valued facets with one value), plus one unknown
    chosen = [value for value, _ in counts.most_common(2)]
    assert chosen, f"the corpus has no value for {facet}"
    if FACETS[facet].symbols is None:
        chosen.append("no-such-value")
    expected_any = keys(s for s in states.values() if of(s) & set(chosen))
    expected_none = keys(s for s in states.values() if not of(s) & set(chosen))
    assert listed(projection_store, EmailQuery(tenant_id, any_of={facet: chosen}, limit=7)) == expected_any
    assert listed(projection_store, EmailQuery(tenant_id, none_of={facet: chosen}, limit=7)) == expected_none


def test_ranges_substring_and_combined_filters(projection_store, corpus, tenant_id):
    _, states = corpus
    all_states = list(states.values())
    start, end = CAMPAIGN_START + 14 * HOUR, CAMPAIGN_START + 49 * HOUR
    in_window = keys(s for s in all_states if start <= (s.received_at or s.first_event_at) < end)
    assert in_window and in_window != keys(all_states)
    assert listed(projection_store, EmailQuery(tenant_id, received_from_us=start, received_to_us=end)) == in_window
    sized = keys(s for s in all_states if 3_000 <= s.size_bytes <= 7_000)
    assert listed(projection_store, EmailQuery(tenant_id, size_min=3_000, size_max=7_000)) == sized
    invoice = keys(s for s in all_states if "invoice" in s.subject.lower())
    assert invoice and listed(projection_store, EmailQuery(tenant_id, subject_contains="INVOICE")) == invoice
    combined = keys(s for s in all_states if "Phish" in s.latest_threat_types and s.latest_location != "Quarantine"
                    and s.size_bytes >= 2_000)
    query = EmailQuery(tenant_id, any_of={"threat_type": ["Phish"]}, none_of={"latest_location": ["Quarantine"]},
                       size_min=2_000)
    assert listed(projection_store, query) == combined


@pytest.mark.parametrize("sort", ["received_at", "size", "subject", "sender", "recipient", "delivery_action",
                                  "latest_location"])
@pytest.mark.parametrize("descending", [True, False])
def test_paging_walks_every_copy_once_in_sort_order(projection_store, corpus, tenant_id, sort, descending):
    _, states = corpus
    emails, cursor = [], None
    while True:
        page = projection_store.emails(EmailQuery(tenant_id, sort=sort, descending=descending, limit=5, cursor=cursor))
        assert len(page.emails) <= 5
        emails += page.emails
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    column = {"received_at": "received_at_us", "size": "size_bytes", "subject": "subject",
              "sender": "sender_from_address", "recipient": "recipient", "delivery_action": "original_delivery_action",
              "latest_location": "latest_location"}[sort]
    order = [(getattr(e, column), e.network_message_id, e.recipient) for e in emails]
    assert order == sorted(order, reverse=descending)
    assert keys(states.values()) == {(e.network_message_id, e.recipient) for e in emails}
    assert len(emails) == len(states)


def test_the_list_shows_each_copy_with_its_list_columns(projection_store, corpus, tenant_id):
    _, states = corpus
    page = projection_store.emails(EmailQuery(tenant_id, limit=1000))
    assert page.next_cursor is None
    by_key = {(e.network_message_id, e.recipient): e for e in page.emails}
    for state in states.values():
        email = by_key[(state.network_message_id, state.recipient)]
        assert email.subject == state.subject and email.sender_from_address == state.sender_from_address
        assert email.latest_location == state.latest_location and email.original_location == state.original_location
        assert set(email.additional_actions) == {a.name for a in state.additional_actions}
        assert email.latest_threat_types == state.latest_threat_types
        assert email.received_at_us == (state.received_at or state.first_event_at)
    assert [e.received_at_us for e in page.emails] == sorted((e.received_at_us for e in page.emails), reverse=True)


@pytest.mark.parametrize("pivot", sorted(PIVOTS))
@pytest.mark.parametrize("interval", ["hour", "day"])
def test_chart_counts_each_deduplicated_copy_per_bucket_and_pivot(projection_store, corpus, tenant_id, pivot, interval):
    _, states = corpus
    # written again as an older and a newer batch: the chart must still count each copy once
    projection_store.write([], list(states.values()))
    seconds = {"hour": 3600, "day": 86400}[interval]
    of = FACET_VALUES[PIVOTS[pivot]]
    expected = Counter()
    for state in states.values():
        bucket = (state.received_at or state.first_event_at) // 1_000_000 // seconds * seconds * 1_000_000
        for value in of(state) or {""}:
            expected[(bucket, value)] += 1
    points = projection_store.chart(EmailQuery(tenant_id), pivot=pivot, interval=interval)
    assert {(p.bucket_start_us, p.value): p.emails for p in points} == dict(expected)
    assert [(p.bucket_start_us, p.value) for p in points] == sorted((p.bucket_start_us, p.value) for p in points)


def test_chart_applies_the_filters(projection_store, corpus, tenant_id):
    _, states = corpus
    query = EmailQuery(tenant_id, any_of={"sender_domain": ["fabrikam.example"]})
    points = projection_store.chart(query, pivot="latest_location", interval="day")
    assert sum(p.emails for p in points) == sum(1 for s in states.values() if s.sender_domain == "fabrikam.example")


def test_details_of_a_message_and_of_a_copy(projection_store, corpus, tenant_id):
    _, states = corpus
    message = max({s.network_message_id for s in states.values()},
                  key=lambda m: sum(1 for s in states.values() if s.network_message_id == m))
    expected = sorted((s for s in states.values() if s.network_message_id == message), key=lambda s: s.recipient)
    assert len(expected) > 1
    assert projection_store.email_details(tenant_id, message) == expected
    assert projection_store.email_details(tenant_id, message, expected[1].recipient) == [expected[1]]
    assert projection_store.email_details(tenant_id, message, "nobody@nowhere.example") == []
    assert projection_store.email_details("another-tenant", message) == []


def test_copy_states_returns_stored_states_and_omits_unknown_copies(projection_store, corpus, tenant_id):
    _, states = corpus
    wanted = [(m, r) for _, m, r in list(states)[:5]] + [("00000000-0000-4000-8000-000000000000", "x@y.example")]
    assert projection_store.copy_states(tenant_id, wanted) == {k: states[k] for k in list(states)[:5]}
    key = next(iter(states))
    assert projection_store.copy_state(*key) == states[key]
    assert projection_store.copy_state(tenant_id, key[1], "nobody@nowhere.example") is None


def test_similar_finds_other_messages_by_sender_and_subject_url_or_attachment(projection_store, corpus, tenant_id):
    _, states = corpus
    for message in {s.network_message_id for s in states.values()}:
        copies = [s for s in states.values() if s.network_message_id == message]
        urls = {u for c in copies for u in c.urls}
        hashes = {a.sha256 for c in copies for a in c.attachments}
        senders = {(c.sender_from_address, c.subject) for c in copies if c.sender_from_address}
        expected = keys(s for s in states.values() if s.network_message_id != message and (
            (s.sender_from_address, s.subject) in senders or urls & set(s.urls)
            or hashes & {a.sha256 for a in s.attachments}))
        found = projection_store.similar(tenant_id, message, limit=100)
        assert {(e.network_message_id, e.recipient) for e in found} == expected
    assert projection_store.similar(tenant_id, "00000000-0000-4000-8000-000000000000") == []


def test_timeline_of_a_message_and_of_a_copy_is_ordered_and_duplicate_free(projection_store, corpus, tenant_id):
    events, states = corpus
    projection_store.write(events[::2], [])  # duplicates of half the events
    message = events[0].network_message_id
    expected = sorted((e for e in events if e.network_message_id == message), key=lambda e: e.order_key)
    entries = projection_store.timeline(message, tenant_id)
    assert [e.event_id for e in entries] == [e.event_id for e in expected]
    recipient = expected[0].recipient
    one_copy = projection_store.timeline(message, tenant_id, recipient)
    assert [e.event_id for e in one_copy] == [e.event_id for e in expected if e.recipient == recipient]
    assert entries[0].payload["subject"] == expected[0].payload.subject
    assert projection_store.timeline(message, "another-tenant") == []


def test_queries_are_per_tenant(projection_store, corpus, tenant_id):
    events, states = mail_corpus(f"{tenant_id}-other", seed=8)
    projection_store.write(events, list(states.values()))
    assert len(listed(projection_store, EmailQuery(tenant_id))) == len(corpus[1])
    assert len(listed(projection_store, EmailQuery(f"{tenant_id}-other"))) == len(states)


@pytest.mark.parametrize("arguments, parameter", [
    (dict(tenant_id=""), "tenant_id"),
    (dict(any_of={"sendr_domain": ["x"]}), "any_of"),
    (dict(any_of={"latest_location": ["Inbox/folder"]}), "any_of.latest_location"),
    (dict(none_of={"url": "https://x.example"}), "none_of.url"),
    (dict(any_of={"url": [3]}), "any_of.url"),
    (dict(received_from_us=-1), "received_from_us"),
    (dict(received_from_us=5, received_to_us=4), "received_from_us"),
    (dict(size_min=10, size_max=1), "size_min"),
    (dict(sort="colour"), "sort"),
    (dict(limit=0), "limit"),
    (dict(limit=1001), "limit"),
    (dict(cursor="not a cursor"), "cursor"),
])
def test_a_bad_query_parameter_is_named_in_the_error(arguments, parameter):
    with pytest.raises(ValueError, match=rf"^{parameter}:"):
        EmailQuery(**{"tenant_id": "t", **arguments})


def test_a_cursor_is_only_valid_for_its_sort_order(projection_store, corpus, tenant_id):
    cursor = projection_store.emails(EmailQuery(tenant_id, limit=2)).next_cursor
    assert cursor is not None
    with pytest.raises(ValueError, match="^cursor:"):
        EmailQuery(tenant_id, sort="size", cursor=cursor)


@pytest.mark.parametrize("arguments, parameter", [(dict(pivot="colour"), "pivot"), (dict(interval="week"), "interval")])
def test_a_bad_chart_parameter_is_named_in_the_error(projection_store, tenant_id, arguments, parameter):
    with pytest.raises(ValueError, match=rf"^{parameter}:"):
        projection_store.chart(EmailQuery(tenant_id), **arguments)


def test_a_copy_without_original_delivery_is_listed_with_unknown_original(projection_store, corpus, tenant_id):
    _, states = corpus
    waiting = [s for s in states.values() if s.received_at is None]
    assert len(waiting) == 1
    found = projection_store.emails(EmailQuery(tenant_id, any_of={"original_location": ["Unknown"]})).emails
    assert [(e.network_message_id, e.recipient, e.latest_location) for e in found] == [
        (waiting[0].network_message_id, waiting[0].recipient, "Quarantine")]
