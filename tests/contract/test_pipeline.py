"""The thin path end to end on the real broker and ClickHouse server:
produce → Faust worker → email_events → `inboxtrail timeline`."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from schemas import events as ev
from streams.publisher import publish_events
from tests.conftest import poll, run_cli

pytestmark = pytest.mark.services


def delivered(tenant_id: str, network_message_id: str, recipient: str, occurred_at: int) -> ev.MailFlowEvent:
    return ev.MailFlowEvent(
        event_id=str(uuid.uuid4()), tenant_id=tenant_id, network_message_id=network_message_id,
        recipient=recipient, occurred_at=occurred_at, source=ev.EventSource.System,
        payload=ev.OriginalDelivery(
            internet_message_id="<m1@fabrikam.example>", direction=ev.Direction.Inbound,
            sender=ev.Sender("billing@fabrikam.example", "billing@fabrikam.example", "Fabrikam", "203.0.113.9"),
            subject="Invoice overdue", delivery_action=ev.DeliveryAction.Delivered,
            delivery_location=ev.DeliveryLocation.Inbox, threat_types=(ev.ThreatType.Phish,),
            detection_methods=(ev.DetectionMethod.UrlDetonation,),
            urls=(ev.Url("https://fabrikam.example/pay", "fabrikam.example"),), size_bytes=4096))


def test_produced_event_is_projected_by_the_worker_and_shown_by_timeline(worker, settings, store, tenant_id):
    # given an OriginalDelivery and a ZAP move of the same copy, published to the real broker
    network_message_id = str(uuid.uuid4())
    now = time.time_ns() // 1000
    first = delivered(tenant_id, network_message_id, "alice@contoso.com", now - 60_000_000)
    zap = ev.MailFlowEvent(str(uuid.uuid4()), tenant_id, network_message_id, "alice@contoso.com", now,
                           ev.EventSource.System,
                           ev.ZapMoved(ev.ZapType.PhishZap, ev.DeliveryLocation.Quarantine, ev.ActionResult.Success,
                                       (ev.ThreatType.Phish,)))
    asyncio.run(publish_events(settings, [zap, first]))

    # when the worker has consumed them, then both rows are in ClickHouse, in event-time order
    entries = poll(lambda: (lambda e: e if len(e) == 2 else None)(store.timeline(network_message_id, tenant_id)),
                   timeout=90, what="the worker to write both events")
    assert [e.event_id for e in entries] == [first.event_id, zap.event_id]
    assert [e.type for e in entries] == ["OriginalDelivery", "ZapMoved"]
    assert entries[1].to_location == "Quarantine" and entries[1].result == "Success"
    assert entries[0].payload["subject"] == "Invoice overdue"

    # and `inboxtrail timeline` shows them as JSON and as a table
    result = run_cli("timeline", network_message_id, "--tenant", tenant_id, "--format", "json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert [row["event_id"] for row in shown] == [first.event_id, zap.event_id]
    assert shown[1]["to_location"] == "Quarantine"
    table = run_cli("timeline", network_message_id, "--tenant", tenant_id)
    assert table.returncode == 0 and "ZapMoved" in table.stdout and "alice@contoso.com" in table.stdout


def test_a_duplicate_publish_shows_once_on_the_timeline(worker, settings, store, tenant_id):
    network_message_id = str(uuid.uuid4())
    event = delivered(tenant_id, network_message_id, "bob@contoso.com", time.time_ns() // 1000)
    asyncio.run(publish_events(settings, [event, event]))
    marker = delivered(tenant_id, network_message_id, "carol@contoso.com", time.time_ns() // 1000)
    asyncio.run(publish_events(settings, [event, marker]))
    # the marker is published after every duplicate, on the same partition (same key), so once it
    # is visible all duplicates have been consumed too
    poll(lambda: store.timeline(network_message_id, tenant_id, "carol@contoso.com"), timeout=90, what="the marker")
    assert [e.event_id for e in store.timeline(network_message_id, tenant_id, "bob@contoso.com")] == [event.event_id]


def test_timeline_of_an_unknown_message_says_so_and_exits_non_zero(services):
    result = run_cli("timeline", str(uuid.uuid4()), "--tenant", "nobody")
    assert result.returncode == 1
    assert "no events for network message id" in result.stderr
