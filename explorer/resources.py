"""The shapes the Explorer hands out: JSON objects of the API and rows of its CSV exports.

Enum values are their Avro symbols (`Inbox`, `Delivered`, `Phish`); additional actions are the
`AdditionalAction` member names (`Zap`, `ManualRemediation`); times are RFC 3339 UTC. The web page
turns symbols into the analyst's words; programs get stable symbols.

CSV cells that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, CR first) get a
leading `'`: subjects and display names are chosen by senders, i.e. by attackers.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from explorer.remediation_api import CopyPlan, RequestStatus
from projections.delivery import CopyState
from projections.queries import ChartPoint, EmailSummary
from projections.timeline import TimelineEntry
from schemas.jsonform import format_timestamp

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _time(micros: int | None) -> str | None:
    return None if micros is None else format_timestamp(micros)


def summary_json(email: EmailSummary) -> dict:
    return {
        "network_message_id": email.network_message_id,
        "recipient": email.recipient,
        "received_at": _time(email.received_at_us),
        "subject": email.subject,
        "sender_from_address": email.sender_from_address,
        "sender_display_name": email.sender_display_name,
        "sender_domain": email.sender_domain,
        "sender_ip": email.sender_ip,
        "direction": email.direction,
        "delivery_action": email.original_delivery_action,
        "latest_delivery_action": email.latest_delivery_action,
        "original_location": email.original_location,
        "latest_location": email.latest_location,
        "additional_actions": list(email.additional_actions),
        "threat_types": list(email.latest_threat_types),
        "internet_message_id": email.internet_message_id,
        "size_bytes": email.size_bytes,
    }


SUMMARY_FIELDS = tuple(summary_json(EmailSummary("", "", "", 0, "", "", "", "", "", "", "", "", "", "", (), (),
                                                 "", 0)))


def copy_json(state: CopyState) -> dict:
    """One copy with everything the details panel shows."""
    return {
        "network_message_id": state.network_message_id,
        "recipient": state.recipient,
        "recipient_domain": state.recipient_domain,
        "received_at": _time(state.received_at),
        "subject": state.subject,
        "internet_message_id": state.internet_message_id,
        "direction": state.direction,
        "sender_mail_from": state.sender_mail_from,
        "sender_from_address": state.sender_from_address,
        "sender_display_name": state.sender_display_name,
        "sender_domain": state.sender_domain,
        "sender_ip": state.sender_ip,
        "delivery_action": state.original_delivery_action,
        "original_location": state.original_location,
        "original_threat_types": list(state.original_threat_types),
        "original_detection_methods": list(state.original_detection_methods),
        "latest_delivery_action": state.latest_delivery_action,
        "latest_location": state.latest_location,
        "threat_types": list(state.latest_threat_types),
        "detection_methods": list(state.latest_detection_methods),
        "additional_actions": sorted(action.name for action in state.additional_actions),
        "urls": [{"url": url} for url in state.urls],
        "url_domains": list(state.url_domains),
        "attachments": [{"file_name": a.file_name, "file_type": a.file_type, "sha256": a.sha256, "size": a.size}
                        for a in state.attachments],
        "size_bytes": state.size_bytes,
        "event_count": state.event_count,
        "first_event_at": _time(state.first_event_at),
        "last_event_at": _time(state.last_event_at),
    }


def timeline_json(entry: TimelineEntry) -> dict:
    return {
        "time": _time(entry.occurred_at_us),
        "recipient": entry.recipient,
        "source": entry.source,
        "type": entry.type,
        "action": entry.action,
        "result": entry.result,
        "to_location": entry.to_location,
        "threat_types": list(entry.threat_types),
        "detection_methods": list(entry.detection_methods),
        "actor": entry.actor,
        "request_id": entry.request_id,
        "event_id": entry.event_id,
        "details": entry.payload,
    }


# The timeline export carries the email's identity on every row (Threat Explorer's export does:
# subject, sender, recipient and message ids), so each row stands on its own in a spreadsheet.
TIMELINE_CSV_FIELDS = ("time", "network_message_id", "internet_message_id", "subject", "sender", "recipient",
                       "source", "type", "action", "result", "to_location", "threat_types", "detection_methods",
                       "actor", "request_id", "event_id")


def timeline_csv_row(entry: TimelineEntry, message: CopyState | None) -> list:
    return [_time(entry.occurred_at_us), entry.network_message_id,
            message.internet_message_id if message else "", message.subject if message else "",
            message.sender_from_address if message else "", entry.recipient, entry.source, entry.type,
            entry.action, entry.result, entry.to_location, ",".join(entry.threat_types),
            ",".join(entry.detection_methods), entry.actor, entry.request_id, entry.event_id]


def summary_csv_row(email: EmailSummary) -> list:
    return [",".join(value) if isinstance(value, list) else value for value in summary_json(email).values()]


def chart_json(points: Iterable[ChartPoint], pivot: str, interval: str) -> dict:
    """Series per pivot value, largest first; each point is one bucket of received time."""
    series: dict[str, list[dict]] = {}
    for point in points:
        series.setdefault(point.value, []).append({"start": _time(point.bucket_start_us), "emails": point.emails})
    ordered = sorted(series.items(), key=lambda item: (-sum(p["emails"] for p in item[1]), item[0]))
    return {"pivot": pivot, "interval": interval,
            "series": [{"value": value, "total": sum(p["emails"] for p in points), "points": points}
                       for value, points in ordered]}


def status_json(status: RequestStatus) -> dict:
    return {
        "request_id": status.request_id,
        "action": str(status.action),
        "state": str(status.state),
        "counts": {str(result): count for result, count in status.counts.items()},
        "target_count": status.target_count,
        "requester": status.requester,
        "approver": status.approver,
        "created_at": _time(status.created_at),
        "reason": status.reason,
        "detail": status.detail,
    }


def plan_json(plan: CopyPlan) -> dict:
    return {"network_message_id": plan.network_message_id, "recipient": plan.recipient,
            "latest_location": str(plan.latest_location), "destination": str(plan.destination),
            "planned_result": None if plan.planned_result is None else str(plan.planned_result)}


def _safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def csv_lines(rows: Iterable[Sequence]) -> str:
    """CSV text of `rows` (a header is just the first row), formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([_safe_cell(value) for value in row])
    return out.getvalue()
