"""Remediation requests and their per-copy results, read from the store.

A request row is immutable history: each change (proposed, approved) inserts a new row with a
higher `version`, and reads take the newest (`argMax`), as for email_state. The per-copy results
are not stored here at all: they are the `AdminAction` events carrying the request id in
`email_events`, i.e. the same facts the timeline and the audit trail show.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from projections.ddl import REQUESTS_TABLE
from projections.queries import BoundQuery  # placeholders are {pN:Type}, as the stores expect

REQUEST_COLUMNS = ("tenant_id", "request_id", "action", "requester", "approver", "reason", "state",
                   "target_count", "targets_json", "created_at_us", "version")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    tenant_id: str
    request_id: str
    action: str
    requester: str
    approver: str
    reason: str
    state: str  # Proposed | Queued — what was decided; progress comes from the result events
    target_count: int
    targets_json: str  # [[network_message_id, recipient], ...]
    created_at_us: int
    version: int

    @property
    def targets(self) -> list[tuple[str, str]]:
        return [tuple(pair) for pair in json.loads(self.targets_json)]


def _latest(where: str) -> str:
    columns = ", ".join(f"argMax({c}, version)" for c in REQUEST_COLUMNS if c not in ("tenant_id", "request_id"))
    return (f"SELECT tenant_id, request_id, {columns} FROM remediation_requests WHERE {where} "
            "GROUP BY tenant_id, request_id")


def record_request(store, record: RequestRecord) -> None:
    store._insert(REQUESTS_TABLE, REQUEST_COLUMNS, [tuple(getattr(record, c) for c in REQUEST_COLUMNS)])


def find_request(store, request_id: str, tenant_id: str | None = None) -> RequestRecord | None:
    if tenant_id is None:
        query = BoundQuery(_latest("request_id = {p0:String}"), {"p0": request_id})
    else:
        query = BoundQuery(_latest("tenant_id = {p0:String} AND request_id = {p1:String}"),
                           {"p0": tenant_id, "p1": request_id})
    rows = store._select(query)
    return RequestRecord(*rows[0]) if rows else None


def tenant_requests(store, tenant_id: str, limit: int = 200) -> list[RequestRecord]:
    query = BoundQuery(_latest("tenant_id = {p0:String}") + " ORDER BY argMax(created_at_us, version) DESC "
                       "LIMIT {p1:UInt32}", {"p0": tenant_id, "p1": limit})
    return [RequestRecord(*row) for row in store._select(query)]


def request_results(store, tenant_id: str, request_id: str) -> dict[str, int]:
    """Copies per result so far: distinct AdminAction result events of the request (duplicates
    from redelivered commands collapse by event id)."""
    query = BoundQuery(
        "SELECT result, count() FROM (SELECT event_id, any(result) AS result FROM email_events "
        "WHERE tenant_id = {p0:String} AND type = 'AdminAction' AND request_id = {p1:String} GROUP BY event_id) "
        "GROUP BY result", {"p0": tenant_id, "p1": request_id})
    return {result: count for result, count in store._select(query)}
