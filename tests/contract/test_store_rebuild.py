"""`rebuild_from_events_table` refolds the log into an email_state equal to the live one.

On the server it runs in a database of its own (a rebuild swaps the whole table, and the shared
test database has a live worker); on chDB it runs on the session's store, rebuilding every tenant
the session's tests wrote — each of them must come out equal too."""
from __future__ import annotations

import random
import uuid

import pytest

from projections.delivery import fold_copies
from projections.queries import EmailQuery
from projections.rebuild import RebuildProgress, rebuild_from_events_table
from tests.contract.conftest import mail_corpus
from tests.fold_scenarios import phishing_campaign


@pytest.fixture(params=[pytest.param("clickhouse", marks=pytest.mark.services), "chdb"])
def rebuildable_store(request):
    if request.param == "chdb":
        yield request.getfixturevalue("chdb_projection_store")
        return
    from projections.server_store import ClickHouseServerStore
    settings = request.getfixturevalue("services")
    store = ClickHouseServerStore(settings.with_overrides(clickhouse_database=f"inboxtrail_rebuild_{uuid.uuid4().hex[:8]}"))
    store.migrate()
    yield store
    store.drop_database()


def test_rebuilt_email_state_equals_the_live_one(rebuildable_store, tenant_id):
    store = rebuildable_store
    events, live = mail_corpus(tenant_id)
    campaign, expected = phishing_campaign(tenant_id, seed=11, n_recipients=20)
    live = {**live, **fold_copies(campaign)}
    everything = events + campaign
    rng = random.Random(tenant_id)
    written = everything + rng.sample(everything, 20)
    rng.shuffle(written)
    store.write(written[:40], [])
    store.write(written[40:], list(live.values()))
    before_list = store.emails(EmailQuery(tenant_id, limit=1000)).emails
    before_chart = store.chart(EmailQuery(tenant_id), pivot="additional_action", interval="hour")

    reports: list[RebuildProgress] = []
    final = rebuild_from_events_table(store, progress=reports.append, batch=25)

    assert final.done and reports[-1] == final and len(reports) > 2
    assert [r.events for r in reports] == sorted(r.events for r in reports)
    assert final.events >= len(everything)  # chDB's store holds other tests' tenants too
    assert store.copy_states(tenant_id, [(m, r) for _, m, r in live]) == live
    assert store.emails(EmailQuery(tenant_id, limit=1000)).emails == before_list
    assert store.chart(EmailQuery(tenant_id), pivot="additional_action", interval="hour") == before_chart
    for key, copy in expected.items():
        assert store.copy_state(*key).latest_location == copy.latest_location
    # rebuilding again (nothing changed) changes nothing
    rebuild_from_events_table(store, batch=1000)
    assert store.emails(EmailQuery(tenant_id, limit=1000)).emails == before_list
