"""Everything an analyst can see of one tenant, read from a ClickHouse server store, as plain
values: comparing two snapshots compares query results (states, timelines, chart counts, the by-time
table). `by_time_disagreements` checks that email_state_by_time holds exactly email_state's copies,
each at its received time (no row left behind by a copy that moved); the worker writes the by-time
table first, so check it once the worker has settled."""
from __future__ import annotations

from projections.ddl import BY_TIME_COLUMNS
from projections.state_rows import STATE_COLUMNS

STATES_SQL = ("SELECT " + ", ".join(STATE_COLUMNS) + " FROM email_state FINAL WHERE tenant_id = %(t)s "
              "ORDER BY network_message_id, recipient")
TIMELINES_SQL = ("SELECT network_message_id, recipient, occurred_at_us, event_id, type, action, result, to_location "
                 "FROM email_events WHERE tenant_id = %(t)s "
                 "ORDER BY network_message_id, recipient, occurred_at_us, event_id LIMIT 1 BY event_id")
BY_TIME_SQL = ("SELECT " + ", ".join(BY_TIME_COLUMNS[:-1]) + " FROM email_state_by_time FINAL "
               "WHERE tenant_id = %(t)s AND superseded = 0 ORDER BY network_message_id, recipient")
CHART_SQL = ("SELECT toStartOfHour(received_at) AS bucket, latest_location, latest_delivery_action, count() "
             "FROM email_state_by_time FINAL WHERE tenant_id = %(t)s AND superseded = 0 GROUP BY bucket, latest_location, latest_delivery_action "
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
    by_time = [tuple(row) for row in client.execute(BY_TIME_SQL, {"t": tenant_id})]
    chart = [tuple(row) for row in client.execute(CHART_SQL, {"t": tenant_id})]
    return {"states": states, "timelines": timelines, "chart": chart, "by_time": by_time}


def by_time_disagreements(view: dict) -> list:
    """Rows in which a snapshot's email_state_by_time (tombstones dropped) and email_state differ:
    empty when every copy is in the by-time table exactly once, at its received time."""
    expected = [tuple(state[column] for column in BY_TIME_COLUMNS[:-1]) for state in view["states"].values()]
    return ([("by_time only", row) for row in view["by_time"] if row not in expected] +
            [("email_state only", row) for row in expected if row not in view["by_time"]])
