"""Helpers for tests of the Explorer (API contract tests, schemathesis, browser): serve the real
aiohttp app on a free port from a background thread, make tokens, and build a small mailbox of
email copies folded with the real fold and written with the real store."""
from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from projections.delivery import fold_copies
from schemas import events as ev

SECOND = 1_000_000
HOUR = 3600 * SECOND


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedApp:
    """An aiohttp application served on 127.0.0.1:<free port> by its own event loop thread."""

    def __init__(self, app: web.Application):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        self._thread = threading.Thread(target=self.loop.run_forever, name="explorer-test-server", daemon=True)

    def __enter__(self) -> "ServedApp":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class Copy:
    tenant_id: str
    network_message_id: str
    recipient: str


def delivery(tenant_id: str, network_message_id: str, recipient: str, at: int, *, subject: str,
             sender: str = "billing@fabrikam.example", ip: str = "203.0.113.9",
             action: ev.DeliveryAction = ev.DeliveryAction.Delivered,
             location: ev.DeliveryLocation = ev.DeliveryLocation.Inbox,
             threats: tuple[ev.ThreatType, ...] = (), methods: tuple[ev.DetectionMethod, ...] = (),
             urls: tuple[str, ...] = (), attachments: tuple[ev.Attachment, ...] = (),
             size: int = 4096) -> ev.MailFlowEvent:
    return ev.MailFlowEvent(
        event_id=str(uuid.uuid4()), tenant_id=tenant_id, network_message_id=network_message_id,
        recipient=recipient, occurred_at=at, source=ev.EventSource.System,
        payload=ev.OriginalDelivery(
            internet_message_id=f"<{network_message_id[:8]}@{sender.split('@')[1]}>",
            direction=ev.Direction.Inbound, sender=ev.Sender(sender, sender, sender.split("@")[0].title(), ip),
            subject=subject, delivery_action=action, delivery_location=location, threat_types=threats,
            detection_methods=methods, urls=tuple(ev.Url(u, u.split("/")[2]) for u in urls),
            attachments=attachments, size_bytes=size))


def zap(original: ev.MailFlowEvent, at: int, to: ev.DeliveryLocation = ev.DeliveryLocation.Quarantine,
        result: ev.ActionResult = ev.ActionResult.Success) -> ev.MailFlowEvent:
    return ev.MailFlowEvent(str(uuid.uuid4()), original.tenant_id, original.network_message_id, original.recipient,
                            at, ev.EventSource.System,
                            ev.ZapMoved(ev.ZapType.PhishZap, to, result, (ev.ThreatType.Phish,)))


def write_folded(store, events: Iterable[ev.MailFlowEvent]) -> None:
    """Events and their folded states, written the way the worker writes a batch."""
    events = list(events)
    store.write(events, list(fold_copies(events).values()))
