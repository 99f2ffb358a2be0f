"""`Remediations` for real: requests recorded in the store, one command per copy on
`mailflow.commands`, progress read back from the AdminAction result events.

Flow: submit → resolve the targets (the selected copies, or every copy matching the filter) →
Proposed when over the two-person threshold, else Queued and published → the worker's
remediation agent decides each copy and publishes an AdminAction result → `status` counts those
results. Nothing here moves mail or decides results; the agent, owning the copy's state, does.
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial

from aiokafka import AIOKafkaProducer

from explorer.remediation_api import (ApprovalRefused, CopyPlan, RemediationRejected,
                                      RemediationRequest, RequestState, RequestStatus)
from inboxtrail.settings import Settings
from projections import remediation_requests as requests_table
from projections.delivery import destination_of
from projections.queries import EmailQuery
from projections.remediation_rules import plan_remediation
from projections.remediation_requests import RequestRecord
from schemas.commands import RemediationCommand, encode_command
from schemas.events import ActionResult, AdminActionKind, DeliveryLocation
from schemas.validation import now_micros

MAX_COPIES_PER_REQUEST = 1_000_000  # no 200k cap; a bound only against runaway filters


class RemediationService:
    def __init__(self, settings: Settings, store, executor: ThreadPoolExecutor | None = None):
        self.settings = settings
        self.store = store
        self.executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="inboxtrail-remediation")
        self._producer: AIOKafkaProducer | None = None

    async def _call(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(fn, *args, **kwargs))

    async def _publish(self, record: RequestRecord) -> None:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all",
                                              enable_idempotence=True, linger_ms=5)
            await self._producer.start()
        pending = []
        for network_message_id, recipient in record.targets:
            command = RemediationCommand(record.request_id, record.tenant_id, network_message_id, recipient,
                                         AdminActionKind(record.action), record.requester, record.reason,
                                         requested_at=now_micros())
            pending.append(await self._producer.send(self.settings.commands_topic, encode_command(command),
                                                     key=network_message_id.encode()))
        await asyncio.gather(*pending)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    # -- targets -----------------------------------------------------------------------------
    def _resolve(self, request: RemediationRequest) -> list[tuple[str, str]]:
        if isinstance(request.targets, EmailQuery):
            query, copies = request.targets, []
            while True:
                page = self.store.emails(query)
                copies += [(e.network_message_id, e.recipient) for e in page.emails]
                if len(copies) > MAX_COPIES_PER_REQUEST:
                    raise RemediationRejected(f"the filter matches more than {MAX_COPIES_PER_REQUEST} copies; "
                                              "narrow it (e.g. a time range) and submit several requests")
                if page.next_cursor is None:
                    return list(dict.fromkeys(copies))
                query = _with_cursor(query, page.next_cursor)
        wanted = [(t.network_message_id, t.recipient) for t in request.targets]
        return list(dict.fromkeys(wanted))

    # -- the protocol ------------------------------------------------------------------------
    async def submit(self, request: RemediationRequest) -> RequestStatus:
        targets = await self._call(self._resolve, request)
        if not targets:
            raise RemediationRejected("the request selects no email copies")
        threshold = self.settings.remediation_approval_threshold
        state = RequestState.Proposed if len(targets) > threshold else RequestState.Queued
        created = now_micros()
        record = RequestRecord(request.tenant_id, request.request_id, str(request.action), request.requester, "",
                               request.reason, str(state), len(targets), json.dumps(targets), created, created)
        await self._call(requests_table.record_request, self.store, record)
        if state == RequestState.Queued:
            await self._publish(record)
        return await self._status_of(record)

    async def approve(self, request_id: str, approver: str) -> RequestStatus:
        record = await self._call(requests_table.find_request, self.store, request_id)
        if record is None:
            raise ApprovalRefused(f"no remediation request {request_id}")
        if record.state != RequestState.Proposed:
            raise ApprovalRefused(f"request {request_id} is {record.state}, only Proposed requests are approved")
        if approver == record.requester:
            raise ApprovalRefused("two-person rule: the approver must be someone other than the requester")
        approved = RequestRecord(**{**_fields(record), "approver": approver, "state": str(RequestState.Queued),
                                    "version": max(now_micros(), record.version + 1)})
        await self._call(requests_table.record_request, self.store, approved)
        await self._publish(approved)
        return await self._status_of(approved)

    async def status(self, tenant_id: str, request_id: str) -> RequestStatus | None:
        record = await self._call(requests_table.find_request, self.store, request_id, tenant_id)
        return None if record is None else await self._status_of(record)

    async def list(self, tenant_id: str):
        records = await self._call(requests_table.tenant_requests, self.store, tenant_id)
        return [await self._status_of(record) for record in records]

    async def preview(self, request: RemediationRequest):
        targets = await self._call(self._resolve, request)
        states = await self._call(self.store.copy_states, request.tenant_id, targets)
        destination = destination_of(request.action)
        plans = []
        for network_message_id, recipient in targets:
            state = states.get((request.tenant_id, network_message_id, recipient))
            plans.append(CopyPlan(network_message_id, recipient,
                                  state.latest_location if state else DeliveryLocation.Unknown,
                                  plan_remediation(state, request.action), destination))
        return plans

    async def _status_of(self, record: RequestRecord) -> RequestStatus:
        results = await self._call(requests_table.request_results, self.store, record.tenant_id, record.request_id)
        counts = {ActionResult(result): n for result, n in results.items()}
        done = sum(counts.values())
        if record.state == RequestState.Proposed:
            state = RequestState.Proposed
        elif done == 0:
            state = RequestState.Queued
        elif done < record.target_count:
            state = RequestState.InProgress
        elif counts.get(ActionResult.Failed, 0) == done:
            state = RequestState.Failed
        else:
            state = RequestState.Completed
        return RequestStatus(request_id=record.request_id, tenant_id=record.tenant_id,
                             action=AdminActionKind(record.action), state=state, counts=counts,
                             requester=record.requester, approver=record.approver or None,
                             created_at=record.created_at_us, reason=record.reason,
                             target_count=record.target_count)


def _fields(record: RequestRecord) -> dict:
    return {name: getattr(record, name) for name in RequestRecord.__slots__}


def _with_cursor(query: EmailQuery, cursor: str) -> EmailQuery:
    return replace(query, cursor=cursor)
