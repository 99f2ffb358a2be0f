"""Everything an analyst can see of one tenant, read from a ClickHouse server store, as plain
values: comparing two snapshots compares query results (states, timelines, chart counts)."""
from __future__ import annotations

from projections.state_rows import STATE_COLUMNS

STATES_SQL = ("SELECT " + ", ".join(STATE_COLUMNS) + " FROM email_state FINAL WHERE tenant_id = %(t)s "
              "ORDER BY network_message_id, recipient")
TIMELINES_SQL = ("SELECT network_message_id, recipient, occurred_at_us, event_id, type, action, result, to_location "
                 "FROM email_events WHERE tenant_id = %(t)s "
                 "ORDER BY network_message_id, recipient, occurred_at_us, event_id LIMIT 1 BY event_id")
CHART_SQL = ("SELECT toStartOfHour(received_at) AS bucket, latest_location, latest_delivery_action, count() "
             "FROM email_state FINAL WHERE tenant_id = %(t)s GROUP BY bucket, latest_location, latest_delivery_action "
             "ORDER BY bucket, latest_location, latest_delivery_action")


def snapshot(store, tenant_id: str) -> dict:
    client = store.client
    states = {}
    for row in client.execute(STATES_SQL, {"t": tenant_id}):
        record = dict(zip(STATE_COLUMNS, row))
        states[(record["tenant_id"], record["network_message_id"], record["recipient"])] = record
    timelines: dict[tuple, list] = {}
    for nmid, recipient, at, event_id, *rest in client.execute(TIMELINES_SQL, {"t": tenant_id}):
        timelines.setdefault((tenant_id, nmid, recipient), []).append((at, event_id, *rest))
    chart = [tuple(row) for row in client.execute(CHART_SQL, {"t": tenant_id})]
    return {"states": states, "timelines": timelines, "chart": chart}
