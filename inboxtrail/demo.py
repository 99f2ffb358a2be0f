"""`inboxtrail demo`: the whole path on this machine, then where to look.

Services up → topics and tables → a background worker → one email delivered to two recipients
and ZAP-quarantined for one of them → its timeline read back from ClickHouse.
"""
from __future__ import annotations

import asyncio
import time
import uuid

from deploy import local
from inboxtrail.output import render
from inboxtrail.settings import Settings
from projections.server_store import ClickHouseServerStore
from schemas.jsonform import event_from_json, format_timestamp
from streams.publisher import publish_events
from streams.topics import ensure_topics_sync

DEMO_TENANT = "contoso"


def sample_email(network_message_id: str, now_us: int) -> list[dict]:
    """A phish delivered to two inboxes; ZAP later moves alice's copy to quarantine."""
    def at(offset_s: float) -> str:
        return format_timestamp(now_us + int(offset_s * 1_000_000))
    delivered = {
        "internet_message_id": f"<{uuid.uuid4().hex}@mail.fabrikam-payroll.example>",
        "direction": "Inbound",
        "sender": {"mail_from": "billing@fabrikam-payroll.example", "from_address": "billing@fabrikam-payroll.example",
                   "display_name": "Fabrikam Payroll", "ip": "203.0.113.45"},
        "subject": "Action required: confirm your payroll details",
        "delivery_action": "Delivered", "delivery_location": "Inbox", "threat_types": [], "detection_methods": [],
        "urls": [{"url": "https://fabrikam-payroll.example/login", "domain": "fabrikam-payroll.example"}],
        "attachments": [], "size_bytes": 18230,
    }
    envelope = {"tenant_id": DEMO_TENANT, "network_message_id": network_message_id, "source": "System"}
    return [
        {**envelope, "event_id": str(uuid.uuid4()), "recipient": "alice@contoso.com", "occurred_at": at(-60),
         "type": "OriginalDelivery", "payload": delivered},
        {**envelope, "event_id": str(uuid.uuid4()), "recipient": "bob@contoso.com", "occurred_at": at(-60),
         "type": "OriginalDelivery", "payload": delivered},
        {**envelope, "event_id": str(uuid.uuid4()), "recipient": "alice@contoso.com", "occurred_at": at(-5),
         "type": "ZapMoved", "payload": {"zap_type": "PhishZap", "to_location": "Quarantine", "result": "Success",
                                         "threat_types": ["Phish"]}},
    ]


def run_demo(settings: Settings) -> int:
    started = time.monotonic()
    local.up(settings)
    for topic, outcome in ensure_topics_sync(settings):
        print(f"topic       {topic:<24} {outcome}")
    store = ClickHouseServerStore(settings)
    store.migrate()
    worker = local.WorkerProcess(settings)
    print(f"worker      {worker.start()} (log: {worker.log_path})")

    network_message_id = str(uuid.uuid4())
    events = [event_from_json(obj) for obj in sample_email(network_message_id, time.time_ns() // 1000)]
    asyncio.run(publish_events(settings, events))
    print(f"published   {len(events)} events for network message id {network_message_id}")

    deadline = time.monotonic() + 120
    entries = []
    while time.monotonic() < deadline:
        entries = store.timeline(network_message_id, tenant_id=DEMO_TENANT)
        if len(entries) == len(events):
            break
        time.sleep(0.5)
    store.close()
    if len(entries) != len(events):
        print(f"the worker has not projected the events after 120 s; see {worker.log_path}")
        return 1
    print(f"\ntimeline of {network_message_id} (from ClickHouse, {time.monotonic() - started:.1f} s after start):\n")
    render([{"time": format_timestamp(e.occurred_at_us), "recipient": e.recipient, "source": e.source,
             "type": e.type, "action": e.action, "result": e.result, "to_location": e.to_location}
            for e in entries], ["time", "recipient", "source", "type", "action", "result", "to_location"], "table")
    print(f"""
where to look:
  .venv/bin/inboxtrail timeline {network_message_id} --tenant {DEMO_TENANT}
  .venv/bin/inboxtrail status            services, versions, addresses
  {worker.log_path}   worker log
  .venv/bin/inboxtrail down              stop worker, Kafka and ClickHouse (data is kept)""")
    return 0
