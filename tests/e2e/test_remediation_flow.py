"""Remediation end to end on the real broker and ClickHouse server: a request from a filter over a
few thousand copies → one command per copy on mailflow.commands → the worker's remediation agent
decides each from the copy's folded state → AdminAction results on mailflow.events → the fold
moves the copies, the timelines show the actions, and the request status counts the results."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid

import pytest

from explorer.remediation_api import ApprovalRefused, RemediationRequest, RequestState
from explorer.remediation_service import RemediationService
from projections.queries import EmailQuery
from projections.server_store import ClickHouseServerStore
from schemas import events as ev
from streams.publisher import publish_events
from tests.conftest import poll, run_cli
from tests.contract.test_pipeline import delivered

pytestmark = pytest.mark.services

COPIES = 3000


def test_soft_delete_from_a_filter_over_thousands_of_copies(worker, settings, tenant_id):
    # given a campaign delivered to COPIES recipients, of which some were since purged by an
    # admin (NotActionable), some already soft-deleted (AlreadyInDestination) and some moved by
    # the user so that ZAP found nothing (latest Unknown → the mailbox answers NotFound)
    nmid = str(uuid.uuid4())
    now = time.time_ns() // 1000
    events, expected = [], {}
    for i in range(COPIES):
        recipient = f"user{i:05d}@contoso.com"
        events.append(delivered(tenant_id, nmid, recipient, now - 3_600_000_000))
        if i % 10 == 1:
            events.append(_admin(tenant_id, nmid, recipient, now - 1_000_000_000, ev.AdminActionKind.HardDelete))
            expected[recipient] = ("NotActionable", "Purged")
        elif i % 10 == 2:
            events.append(_admin(tenant_id, nmid, recipient, now - 1_000_000_000, ev.AdminActionKind.SoftDelete))
            expected[recipient] = ("AlreadyInDestination", "SoftDeleted")
        elif i % 10 == 3:
            events.append(dataclasses.replace(
                delivered(tenant_id, nmid, recipient, now - 2_000_000_000), event_id=str(uuid.uuid4()),
                payload=ev.ZapMoved(ev.ZapType.PhishZap, ev.DeliveryLocation.Quarantine, ev.ActionResult.NotFound)))
            expected[recipient] = ("NotFound", "Unknown")
        else:
            expected[recipient] = ("Success", "SoftDeleted")
    asyncio.run(publish_events(settings, events))
    store = ClickHouseServerStore(settings)
    poll(lambda: store.client.execute("SELECT uniqExact(event_id) FROM email_events WHERE tenant_id = %(t)s",
                                      {"t": tenant_id})[0][0] == len(events),
         timeout=180, interval=1.0, what="campaign projected")
    poll(lambda: store.client.execute("SELECT sum(event_count) FROM email_state FINAL WHERE tenant_id = %(t)s",
                                      {"t": tenant_id})[0][0] == len(events), timeout=60, what="states settled")

    # when an analyst soft-deletes every copy matching the filter (subject + sender domain)
    service = RemediationService(settings.with_overrides(remediation_approval_threshold=COPIES + 1),
                                 ClickHouseServerStore(settings))
    request = RemediationRequest(str(uuid.uuid4()), tenant_id, ev.AdminActionKind.SoftDelete,
                                 EmailQuery(tenant_id, any_of={"sender_domain": ["fabrikam.example"]},
                                            subject_contains="invoice overdue", limit=1000),
                                 "analyst@contoso.com", "campaign clean-up")

    async def submit_and_wait():
        try:
            status = await service.submit(request)
            assert status.target_count == COPIES and status.state in (RequestState.Queued, RequestState.InProgress)
            deadline = time.monotonic() + 240
            while status.state in (RequestState.Queued, RequestState.InProgress) and time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                status = await service.status(tenant_id, request.request_id)
            return status
        finally:
            await service.close()
    status = asyncio.run(submit_and_wait())

    # then the request completed with the right count per result
    assert status.state == RequestState.Completed, status
    wanted = {}
    for result, _location in expected.values():
        wanted[result] = wanted.get(result, 0) + 1
    assert {str(k): v for k, v in status.counts.items()} == wanted

    # and every copy's latest location and timeline show it, with actor and request id
    def locations():
        rows = store.client.execute("SELECT recipient, latest_location FROM email_state FINAL WHERE tenant_id = %(t)s",
                                    {"t": tenant_id})
        return dict(rows)
    poll(lambda: locations() == {r: loc for r, (_res, loc) in expected.items()}, timeout=120, interval=1.0,
         what="every copy's latest location to reflect its result")
    timeline = store.timeline(nmid, tenant_id, "user00004@contoso.com")
    action = [e for e in timeline if e.request_id == request.request_id]
    assert len(action) == 1 and action[0].actor == "analyst@contoso.com" and action[0].result == "Success"
    store.close()


def _admin(tenant_id, nmid, recipient, at, action):
    return ev.MailFlowEvent(str(uuid.uuid4()), tenant_id, nmid, recipient, at, ev.EventSource.Admin,
                            ev.AdminAction(action, "earlier-admin@contoso.com", str(uuid.uuid4()),
                                           ev.ActionResult.Success))


def test_two_person_rule_and_the_remediate_cli(worker, settings, tenant_id):
    # given three delivered copies of one message
    nmid = str(uuid.uuid4())
    now = time.time_ns() // 1000
    recipients = ["ann@contoso.com", "ben@contoso.com", "cid@contoso.com"]
    asyncio.run(publish_events(settings, [delivered(tenant_id, nmid, r, now - 60_000_000) for r in recipients]))
    store = ClickHouseServerStore(settings)
    poll(lambda: len(store.email_details(tenant_id, nmid)) == 3, timeout=120, what="three copies projected")

    # the CLI's dry run shows the per-copy plan and changes nothing
    dry = run_cli("remediate", "--tenant", tenant_id, "--action", "HardDelete", "--reason", "dry",
                  "--network-message-id", nmid, "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert sorted(p["recipient"] for p in plan) == recipients
    assert {p["planned_result"] for p in plan} == {"act (ask the mailbox)"}

    # over the threshold a request waits for a second person
    service = RemediationService(settings.with_overrides(remediation_approval_threshold=2),
                                 ClickHouseServerStore(settings))
    request = RemediationRequest(str(uuid.uuid4()), tenant_id, ev.AdminActionKind.MoveToJunk,
                                 EmailQuery(tenant_id, any_of={"network_message_id": [nmid]}),
                                 "ann.analyst", "suspicious newsletter")

    async def propose_then_approve():
        try:
            proposed = await service.submit(request)
            with pytest.raises(ApprovalRefused):
                await service.approve(request.request_id, "ann.analyst")
            approved = await service.approve(request.request_id, "bob.admin")
            with pytest.raises(ApprovalRefused):
                await service.approve(request.request_id, "carol.admin")
            status = approved
            deadline = time.monotonic() + 120
            while status.state != RequestState.Completed and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                status = await service.status(tenant_id, request.request_id)
            return proposed, approved, status
        finally:
            await service.close()
    proposed, approved, final = asyncio.run(propose_then_approve())
    assert proposed.state == RequestState.Proposed and proposed.target_count == 3
    assert approved.approver == "bob.admin"
    assert final.state == RequestState.Completed and dict(final.counts) == {ev.ActionResult.Success: 3}

    # the CLI acts on one copy and waits for its result
    acted = run_cli("remediate", "--tenant", tenant_id, "--action", "MoveToInbox", "--reason", "false positive",
                    "--target", f"{nmid}:ann@contoso.com", "--wait", "90", "--format", "json")
    assert acted.returncode == 0, acted.stderr
    (status,) = json.loads(acted.stdout)
    assert status["state"] == "Completed" and status["result_Success"] == 1
    poll(lambda: {c.recipient: str(c.latest_location) for c in store.email_details(tenant_id, nmid)}
         == {"ann@contoso.com": "Inbox", "ben@contoso.com": "Junk", "cid@contoso.com": "Junk"},
         timeout=60, what="latest locations after both requests")
    store.close()
