"""The HTTP layer of remediation requests (roles, two-person rule, audit, tenant scoping), with an
in-memory stand-in for the remediation flow. Only the HTTP layer is under test here; the real flow
(`streams/remediation.py`) is tested against Kafka and ClickHouse elsewhere."""
from __future__ import annotations

import time
import uuid
from dataclasses import replace

import pytest
import requests

from explorer.api import create_api
from explorer.audit import AuditLog
from explorer.auth import TokenStore
from explorer.remediation_api import (
    ApprovalRefused,
    CopyPlan,
    CopyTarget,
    RemediationRequest,
    RequestState,
    RequestStatus,
)
from inboxtrail.settings import Settings
from projections.queries import EmailQuery
from schemas.events import DeliveryLocation
from tests.explorer_harness import ServedApp

APPROVAL_THRESHOLD = 3


class InMemoryRemediationsForHttpTests:
    """Test double of `explorer.remediation_api.Remediations`: keeps requests in a dict, applies
    the two-person rule over APPROVAL_THRESHOLD selected copies, never acts on any mailbox."""

    def __init__(self):
        self.requests: dict[str, tuple[RemediationRequest, RequestStatus]] = {}

    async def submit(self, request: RemediationRequest) -> RequestStatus:
        size = None if isinstance(request.targets, EmailQuery) else len(request.targets)
        state = RequestState.Proposed if size is None or size > APPROVAL_THRESHOLD else RequestState.Queued
        status = RequestStatus(request.request_id, request.tenant_id, request.action, state, {}, request.requester,
                               None, time.time_ns() // 1000, request.reason, size)
        self.requests[request.request_id] = (request, status)
        return status

    async def approve(self, request_id: str, approver: str) -> RequestStatus:
        request, status = self.requests[request_id]
        if approver == status.requester:
            raise ApprovalRefused("requester cannot approve")
        status = replace(status, state=RequestState.Queued, approver=approver)
        self.requests[request_id] = (request, status)
        return status

    async def status(self, tenant_id: str, request_id: str) -> RequestStatus | None:
        found = self.requests.get(request_id)
        return found[1] if found and found[1].tenant_id == tenant_id else None

    async def list(self, tenant_id: str) -> list[RequestStatus]:
        return [s for _, s in self.requests.values() if s.tenant_id == tenant_id]

    async def preview(self, request: RemediationRequest) -> list[CopyPlan]:
        return [CopyPlan(t.network_message_id, t.recipient, DeliveryLocation.Inbox, None, DeliveryLocation.SoftDeleted)
                for t in request.targets]


@pytest.fixture
def explorer(tmp_path):
    tokens = TokenStore.in_state_dir(tmp_path)
    issued = {name: tokens.create(user, tenant, role)[0] for name, user, tenant, role in (
        ("reader", "rita", "t-a", "reader"), ("investigator", "ivan", "t-a", "investigator"),
        ("remediator", "remy", "t-a", "remediator"), ("admin", "ada", "t-a", "admin"),
        ("admin2", "abe", "t-a", "admin"), ("b_admin", "bea", "t-b", "admin"))}
    flow = InMemoryRemediationsForHttpTests()
    audit = AuditLog.in_state_dir(tmp_path)
    app = create_api(Settings(state_dir=tmp_path), None, flow, tokens, audit)
    with ServedApp(app) as served:
        yield {"url": served.url, "tokens": issued, "flow": flow, "audit": audit}


def call(explorer, method, path, who, body=None):
    return requests.request(method, explorer["url"] + path, json=body, timeout=10,
                            headers={"Authorization": f"Bearer {explorer['tokens'][who]}"})


def selected(n: int) -> list[dict]:
    return [{"network_message_id": str(uuid.uuid4()), "recipient": f"user{i}@contoso.com"} for i in range(n)]


def test_a_small_request_is_queued_and_audited_with_actor_and_reason(explorer):
    response = call(explorer, "POST", "/api/v1/remediations", "remediator",
                    {"action": "SoftDelete", "reason": "phish campaign 12", "targets": selected(2)})
    assert response.status_code == 202, response.text
    status = response.json()
    assert status["state"] == "Queued" and status["requester"] == "remy" and status["action"] == "SoftDelete"
    assert response.headers["Location"] == f"/api/v1/remediations/{status['request_id']}"
    request, _ = explorer["flow"].requests[status["request_id"]]
    assert request.tenant_id == "t-a" and len(request.targets) == 2 and isinstance(request.targets[0], CopyTarget)
    [entry] = [e for e in explorer["audit"].entries() if e["action"] == "remediation.request"]
    assert (entry["actor"], entry["tenant_id"], entry["reason"], entry["request_id"]) == (
        "remy", "t-a", "phish campaign 12", status["request_id"])
    assert call(explorer, "GET", f"/api/v1/remediations/{status['request_id']}", "reader").json()["state"] == "Queued"


def test_a_large_request_needs_another_admin(explorer):
    proposed = call(explorer, "POST", "/api/v1/remediations", "admin",
                    {"action": "HardDelete", "reason": "malware", "targets": selected(APPROVAL_THRESHOLD + 1)}).json()
    assert proposed["state"] == "Proposed"
    path = f"/api/v1/remediations/{proposed['request_id']}/approve"
    assert call(explorer, "POST", path, "remediator", {}).status_code == 403
    own = call(explorer, "POST", path, "admin", {"reason": "me"})
    assert own.status_code == 409 and own.json()["error"] == "approval refused"
    assert call(explorer, "POST", path, "b_admin", {}).status_code == 404  # another tenant's request
    approved = call(explorer, "POST", path, "admin2", {"reason": "checked the sample"})
    assert approved.status_code == 200 and approved.json()["state"] == "Queued" and approved.json()["approver"] == "abe"
    assert call(explorer, "POST", path, "admin2", {}).status_code == 409  # no longer Proposed
    approvals = [e for e in explorer["audit"].entries() if e["action"] == "remediation.approve"]
    assert [(e["actor"], e["reason"], e["requester"]) for e in approvals] == [("abe", "checked the sample", "ada")]


def test_a_filter_request_carries_the_callers_tenant(explorer):
    response = call(explorer, "POST", "/api/v1/remediations", "remediator",
                    {"action": "MoveToJunk", "reason": "spam wave",
                     "filter": {"sender_domain": "Tailspin.example", "threat_type": ["Spam"], "size_min": 10}})
    assert response.status_code == 202, response.text
    request, _ = explorer["flow"].requests[response.json()["request_id"]]
    assert isinstance(request.targets, EmailQuery) and request.targets.tenant_id == "t-a"
    assert request.targets.any_of == {"sender_domain": ("tailspin.example",), "threat_type": ("Spam",)}
    assert request.targets.size_min == 10
    audited = [e for e in explorer["audit"].entries() if e["action"] == "remediation.request"][-1]
    assert audited["filter"]["any_of"]["sender_domain"] == ["tailspin.example"]


def test_roles_and_tenants_on_status_list_and_preview(explorer):
    body = {"action": "SoftDelete", "reason": "x", "targets": selected(1)}
    for who in ("reader", "investigator"):
        assert call(explorer, "POST", "/api/v1/remediations", who, body).status_code == 403
    assert call(explorer, "POST", "/api/v1/remediations/preview", "reader", body).status_code == 403
    plan = call(explorer, "POST", "/api/v1/remediations/preview", "investigator", body).json()
    assert plan["copies"][0]["destination"] == "SoftDeleted" and plan["copies"][0]["planned_result"] is None
    assert not [e for e in explorer["audit"].entries() if e["action"] == "remediation.request"]
    created = call(explorer, "POST", "/api/v1/remediations", "remediator", body).json()
    assert [s["request_id"] for s in call(explorer, "GET", "/api/v1/remediations", "reader").json()["remediations"]] \
        == [created["request_id"]]
    assert call(explorer, "GET", "/api/v1/remediations", "b_admin").json()["remediations"] == []
    assert call(explorer, "GET", f"/api/v1/remediations/{created['request_id']}", "b_admin").status_code == 404
