"""The timeline projection: one `email_events` row per event (pure mapping, no I/O).

The row keeps the columns the timeline view and its filters need, plus the payload in its JSON
form (`schemas.jsonform`), so the log table alone can rebuild every other projection losslessly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from projections.delivery import destination_of
from schemas import events as ev

EVENT_COLUMNS = (
    "tenant_id", "network_message_id", "recipient", "occurred_at", "occurred_at_us", "event_id",
    "source", "type", "action", "result", "to_location", "threat_types", "detection_methods",
    "actor", "request_id", "payload_json",
)



@dataclass(frozen=True, slots=True)
class TimelineEntry:
    tenant_id: str
    network_message_id: str
    recipient: str
    occurred_at_us: int
    event_id: str
    source: str
    type: str
    action: str
    result: str
    to_location: str
    threat_types: tuple[str, ...]
    detection_methods: tuple[str, ...]
    actor: str
    request_id: str
    payload: dict


def _describe(payload: ev.Payload) -> tuple[str, str, str, tuple, tuple, str, str]:
    """(action, result, to_location, threat_types, detection_methods, actor, request_id)"""
    match payload:
        case ev.OriginalDelivery():
            return (payload.delivery_action, "", payload.delivery_location, payload.threat_types,
                    payload.detection_methods, "", "")
        case ev.ZapMoved():
            return (payload.zap_type, payload.result, payload.to_location, payload.threat_types, (), "", "")
        case ev.AdminAction():
            return (payload.action, payload.result, destination_of(payload.action), (), (),
                    payload.actor, payload.request_id)
        case ev.QuarantineReleased():
            return ("QuarantineRelease", payload.result, payload.to_location, (), (), payload.actor, "")
        case ev.DynamicDelivery():
            return ("DynamicDelivery", payload.result, payload.to_location, (), (), "", "")
        case ev.Reprocessed():
            return ("Reprocessed", "", "", payload.threat_types, payload.detection_methods, "", "")
    raise TypeError(f"unknown payload type {type(payload).__name__}")


def _fields_of(record: object) -> dict:
    """The JSON object of a nested record (Sender, Url, Attachment) for `json.dumps(default=)`."""
    try:
        return {name: getattr(record, name) for name in record.__dataclass_fields__}
    except AttributeError:
        raise TypeError(f"{type(record).__name__} is not JSON serializable") from None


# `payload_json` is `event_to_json(event)["payload"]` dumped with sorted keys, built in one pass
# of the C encoder: enum symbols are str, tuples are lists, and records go through `_fields_of`.
# Equal to the jsonform output for every event (tests/unit/test_hot_path_equivalence.py checks it).
_dump_payload = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=_fields_of).encode


def event_row(event: ev.MailFlowEvent) -> tuple:
    action, result, to_location, threats, methods, actor, request_id = _describe(event.payload)
    payload_json = _dump_payload(_fields_of(event.payload))
    return (event.tenant_id, event.network_message_id, event.recipient, event.occurred_at // 1_000_000,
            event.occurred_at, event.event_id, str(event.source), event.type, str(action), str(result),
            str(to_location), [str(t) for t in threats], [str(m) for m in methods], actor, request_id,
            payload_json)
