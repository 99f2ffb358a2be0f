"""`inboxtrail run`: worker and Explorer API in one process (what the embedded chDB store needs:
one process per data directory), optionally with simulated traffic.

Composition only: services up, topics and tables, the Faust app from `streams.app`, the API from
`explorer.api` on the same event loop, sharing one store whose calls are serialized.
"""
from __future__ import annotations

import itertools
import threading
import time

import faust
from aiohttp import web

from deploy import local
from explorer.api import create_api
from explorer.audit import AuditLog
from explorer.auth import TokenStore
from explorer.remediation_service import RemediationService
from inboxtrail.settings import Settings
from schemas.validation import now_micros
from streams.app import create_app, create_store
from streams.publisher import publish_paced
from streams.simulation import SECOND, SimulationPlan, mail_time_span, message_gap_for, simulate
from streams.topics import ensure_topics_sync


class SerializedStore:
    """Every store call under one lock: the worker's writer threads, the API's store thread and
    the remediation service share one store (one chDB session per process)."""

    def __init__(self, store):
        self._store = store
        self._lock = threading.RLock()
        self.name = store.name

    def __getattr__(self, name):
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def serialized(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)
        return serialized


def run(settings: Settings, *, simulate_events: int, simulate_rate: float, tenant: str, seed: int,
        say=print) -> int:
    started = time.monotonic()
    local.up(settings, report=say)
    ensure_topics_sync(settings)
    store = SerializedStore(create_store(settings))
    store.migrate()
    app = create_app(settings, store=store)
    tokens = TokenStore.in_state_dir(settings.state_dir)
    token, _record = tokens.create(f"run-{time.strftime('%Y%m%dT%H%M%S')}", tenant, "admin")
    api = create_api(settings, store, RemediationService(settings, store), tokens,
                     AuditLog.in_state_dir(settings.state_dir))

    @app.task
    async def serve_explorer():
        runner = web.AppRunner(api, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.api_host, settings.api_port).start()
        say(f"""
inboxtrail is running ({time.monotonic() - started:.0f} s to start; store: {settings.store})
  Explorer   http://{settings.api_host}:{settings.api_port}/
  token      {token}   (admin of tenant {tenant}; paste it into the page)
  API        http://{settings.api_host}:{settings.api_port}/openapi.json
  metrics    http://127.0.0.1:{settings.worker_web_port}/metrics   (worker)
  stop       Ctrl-C, then `inboxtrail down` to stop Kafka""")

    if simulate_events:
        @app.task
        async def simulated_traffic():
            now = now_micros()
            gap = message_gap_for(simulate_events)
            start = (now - 2 * mail_time_span(simulate_events, gap) - 3600 * SECOND) // SECOND * SECOND
            events = itertools.islice(simulate(SimulationPlan((tenant,), seed, start, gap, not_after_us=now)),
                                      simulate_events)
            count = await publish_paced(settings, events, rate=simulate_rate)
            say(f"simulated traffic: published {count} events for tenant {tenant} (seed {seed})")

    worker = faust.Worker(app, loglevel="error", quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    finally:
        # close chDB's session before interpreter exit tears its global context down with the
        # store still open (seen once as a segfault on Ctrl-C after `make run`)
        store.close()
    return 0
