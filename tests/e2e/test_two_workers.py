"""Two workers in one consumer group split the partitions (with the rebalances of one joining
mid-stream) and give exactly the query results of a single worker."""
from __future__ import annotations

import asyncio
import random
import re
import time

import pytest

from inboxtrail.settings import load_settings
from projections.server_store import ClickHouseServerStore
from streams.publisher import publish_events
from tests.conftest import TEST_ENV, TEST_STATE, free_port, isolated_pipeline_env, poll, run_cli, start_worker, stop_worker
from tests.fold_scenarios import phishing_campaign
from tests.projection_snapshot import by_time_disagreements, snapshot

pytestmark = pytest.mark.services


def partial_assignments(log_path, topic: str) -> list[str]:
    """Partition sets of `topic` other than all four, from Faust's assignment tables in a log."""
    found = re.findall(r"\|\s*" + re.escape(topic) + r"\s*\|\s*\{([^}]*)\}", log_path.read_text())
    return [partitions for partitions in found if partitions != "0-3"]


def test_two_workers_in_one_group_equal_one_worker(services, tenant_id):
    pair = isolated_pipeline_env("pair", partitions=4)
    single = dict(pair, INBOXTRAIL_CLICKHOUSE_DATABASE=pair["INBOXTRAIL_CLICKHOUSE_DATABASE"] + "_single",
                  INBOXTRAIL_CONSUMER_GROUP=pair["INBOXTRAIL_CONSUMER_GROUP"] + "-single",
                  INBOXTRAIL_WORKER_WEB_PORT=str(free_port()))
    for env in (pair, single):
        assert run_cli("migrate", **env).returncode == 0
    pair_settings, single_settings = load_settings({**TEST_ENV, **pair}), load_settings({**TEST_ENV, **single})
    events, expected = phishing_campaign(tenant_id, seed=21, n_recipients=80)
    stream = list(events) + random.Random(2).sample(list(events), len(events) // 5)
    random.Random(3).shuffle(stream)
    distinct = len({e.event_id for e in events})

    workers = [start_worker("pair-single.log", **single), start_worker("pair-a.log", **pair)]
    try:
        half = len(stream) // 2
        asyncio.run(publish_events(pair_settings, stream[:half]))
        time.sleep(3)
        # the second worker joins mid-stream: a rebalance moves partitions (and their table state)
        workers.append(start_worker("pair-b.log", **dict(pair, INBOXTRAIL_WORKER_WEB_PORT=str(free_port()))))
        time.sleep(8)
        asyncio.run(publish_events(pair_settings, stream[half:]))

        pair_store, single_store = ClickHouseServerStore(pair_settings), ClickHouseServerStore(single_settings)

        def done(store):
            return lambda: store.client.execute(
                "SELECT uniqExact(event_id) FROM email_events WHERE tenant_id = %(t)s", {"t": tenant_id})[0][0] == distinct
        poll(done(single_store), timeout=180, interval=1.0, what="single worker complete")
        poll(done(pair_store), timeout=180, interval=1.0, what="worker pair complete")
        poll(lambda: snapshot(pair_store, tenant_id) == snapshot(single_store, tenant_id), timeout=60, interval=1.0,
             what="identical projections")
        view = snapshot(pair_store, tenant_id)
        assert len(view["states"]) == len(expected)
        assert by_time_disagreements(view) == []
        for key, copy in expected.items():
            assert view["states"][key]["latest_location"] == str(copy.latest_location), key
        assert all(w.poll() is None for w in workers)
        # and each member of the pair really owned only part of the partitions at some point
        for log_name in ("pair-a.log", "pair-b.log"):
            assert partial_assignments(TEST_STATE / log_name, pair["INBOXTRAIL_EVENTS_TOPIC"]), log_name
    finally:
        for proc in workers:
            stop_worker(proc)
