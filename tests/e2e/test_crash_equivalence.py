"""Crash equivalence on the real broker and ClickHouse server: a worker SIGKILLed at random points
(at least 10 times, also during start-up and table recovery) while a scenario streams in ends with
exactly the query results of a worker that ran uninterrupted — zero lost, zero duplicated."""
from __future__ import annotations

import asyncio
import random
import signal
import threading
import time

import pytest

from inboxtrail.settings import load_settings
from projections.server_store import ClickHouseServerStore
from streams.publisher import publish_events
from tests.conftest import TEST_ENV, free_port, isolated_pipeline_env, poll, run_cli, start_worker, stop_worker
from tests.fold_scenarios import phishing_campaign
from tests.projection_snapshot import by_time_disagreements, snapshot

pytestmark = pytest.mark.services

KILLS = 10


def shuffled_with_duplicates(events, seed):
    rng = random.Random(seed)
    stream = list(events) + rng.sample(list(events), len(events) // 4)
    rng.shuffle(stream)
    return stream


def test_sigkilled_worker_ends_with_the_results_of_an_uninterrupted_one(services, tenant_id):
    crashing = isolated_pipeline_env("crash")
    steady = dict(crashing, INBOXTRAIL_CLICKHOUSE_DATABASE=crashing["INBOXTRAIL_CLICKHOUSE_DATABASE"] + "_steady",
                  INBOXTRAIL_CONSUMER_GROUP=crashing["INBOXTRAIL_CONSUMER_GROUP"] + "-steady",
                  INBOXTRAIL_WORKER_WEB_PORT=str(free_port()))
    for env in (crashing, steady):
        assert run_cli("migrate", **env).returncode == 0
    crash_settings = load_settings({**TEST_ENV, **crashing})
    steady_settings = load_settings({**TEST_ENV, **steady})

    events, expected = phishing_campaign(tenant_id, seed=11, n_recipients=300)
    stream = shuffled_with_duplicates(events, seed=11)
    distinct = len({e.event_id for e in events})
    crash_store, steady_store = ClickHouseServerStore(crash_settings), ClickHouseServerStore(steady_settings)

    def projected(store) -> int:
        return store.client.execute("SELECT uniqExact(event_id) FROM email_events WHERE tenant_id = %(t)s",
                                    {"t": tenant_id})[0][0]

    steady_worker = start_worker("crash-steady.log", **steady)
    # the scenario streams in, a few events at a time, for about as long as the kill loop lasts
    def stream_in():
        for i in range(0, len(stream), 8):
            asyncio.run(publish_events(crash_settings, stream[i:i + 8]))
            time.sleep(1.0)
    publisher = threading.Thread(target=stream_in)
    publisher.start()
    rng = random.Random(5)
    kills = kills_while_projecting = 0
    final = None
    try:
        while kills < KILLS:
            before = projected(crash_store)
            proc = start_worker("crash-killed.log", **crashing)
            if kills % 4 == 3:  # now and then during start-up / table recovery
                time.sleep(rng.uniform(0.3, 3.0))
            else:  # mostly in the middle of projecting
                poll(lambda: projected(crash_store) > before or not publisher.is_alive(), timeout=60,
                     interval=0.2, what="the restarted worker to make progress")
                time.sleep(rng.uniform(0.0, 1.5))
                kills_while_projecting += publisher.is_alive()
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        killed_at = projected(crash_store)
        publisher.join()
        final = start_worker("crash-killed.log", **crashing)

        def complete(store):
            def check():
                (events_n, states_n), = store.client.execute(
                    "SELECT (SELECT uniqExact(event_id) FROM email_events WHERE tenant_id = %(t)s),"
                    " (SELECT count() FROM email_state FINAL WHERE tenant_id = %(t)s)", {"t": tenant_id})
                return events_n == distinct and states_n == len(expected)
            return check
        poll(complete(steady_store), timeout=180, interval=1.0, what="the steady worker to project everything")
        poll(complete(crash_store), timeout=180, interval=1.0, what="the crashing worker to project everything")
        # the last events of a batch are written before the batch's states; wait for both to settle
        poll(lambda: snapshot(crash_store, tenant_id) == snapshot(steady_store, tenant_id), timeout=60,
             interval=1.0, what="identical projections")

        crashed_view, steady_view = snapshot(crash_store, tenant_id), snapshot(steady_store, tenant_id)
        assert crashed_view == steady_view
        assert by_time_disagreements(crashed_view) == []
        assert kills == KILLS and kills_while_projecting >= 7
        assert 0 < killed_at  # the kills happened while the scenario was being projected
        # and both equal the scenario's own expectations (nothing lost, nothing doubled)
        for key, copy in expected.items():
            state = crashed_view["states"][key]
            assert state["latest_location"] == str(copy.latest_location), key
            assert state["event_count"] == copy.timeline_events, key
        for store in (crash_store, steady_store):
            store.client.execute("OPTIMIZE TABLE email_events FINAL")
            raw = store.client.execute("SELECT count() FROM email_events WHERE tenant_id = %(t)s", {"t": tenant_id})
            assert raw[0][0] == distinct
    finally:
        for worker in (steady_worker, final):
            if worker is not None:
                stop_worker(worker)
        publisher.join()
