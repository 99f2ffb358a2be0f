"""The Explorer API over HTTP against the real ClickHouse server store.

Every test module's data lives in its own two tenants (A and B), written through the store's
`write(events, states)` with states from the real fold, and the real aiohttp app is served on a
free port. Remediation endpoints that need the remediation flow are tested in
`test_api_remediations.py`; here they are exercised only where the HTTP layer answers first
(authentication, roles, validation).
"""
from __future__ import annotations

import csv
import io
import json
import time
import uuid

import pytest
import requests

from explorer.api import create_api
from explorer.audit import AuditLog
from explorer.auth import TokenStore
from schemas import events as ev
from tests.explorer_harness import HOUR, ServedApp, delivery, write_folded, zap

pytestmark = pytest.mark.services

ALICE, BOB, CAROL, DAVE = "alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "dave@contoso.com"
INJECTIONS = (
    "' OR '1'='1", "x' OR 1=1 --", "\\' OR 1=1 --", "'; DROP TABLE email_state; --", "%(p0)s", "{p0:String}",
    "%s", "\\", "\x00", "' UNION SELECT * FROM system.tables --", "`", "\"", "a\nb", "😀' OR ''='", "%%",
)


class NoRemediationFlow:
    """Stands in where these tests never reach the remediation flow: any call is a test failure."""

    def __getattr__(self, name):
        raise AssertionError(f"the HTTP layer should have refused before calling remediations.{name}")


@pytest.fixture(scope="module")
def mailbox(services):
    """Tenant A: a delivered phish to alice and bob (bob's copy later ZAPped to quarantine), a
    junked spam to alice, a similar phish (same URL) to dave. Tenant B: one delivered phish."""
    from projections.server_store import ClickHouseServerStore
    store = ClickHouseServerStore(services)
    tenant_a, tenant_b = f"t-a-{uuid.uuid4().hex[:10]}", f"t-b-{uuid.uuid4().hex[:10]}"
    now = time.time_ns() // 1000
    phish, spam, similar, other = (str(uuid.uuid4()) for _ in range(4))
    pay = "https://fabrikam.example/pay"
    invoice = ev.Attachment("invoice.html", "html", "ab" * 32, 2048)
    phish_bob = delivery(tenant_a, phish, BOB, now - 3 * HOUR, subject="Invoice overdue",
                         threats=(ev.ThreatType.Phish,), methods=(ev.DetectionMethod.UrlDetonation,),
                         urls=(pay,), attachments=(invoice,))
    events = [
        delivery(tenant_a, phish, ALICE, now - 3 * HOUR, subject="Invoice overdue", threats=(ev.ThreatType.Phish,),
                 methods=(ev.DetectionMethod.UrlDetonation,), urls=(pay,), attachments=(invoice,)),
        phish_bob, zap(phish_bob, now - 2 * HOUR),
        delivery(tenant_a, spam, ALICE, now - 30 * HOUR, subject="Cheap watches", sender="news@tailspin.example",
                 ip="192.0.2.44", action=ev.DeliveryAction.Junked, location=ev.DeliveryLocation.Junk,
                 threats=(ev.ThreatType.Spam,), size=1000),
        delivery(tenant_a, similar, DAVE, now - HOUR, subject="Second notice", threats=(ev.ThreatType.Phish,),
                 urls=(pay,)),
        delivery(tenant_b, other, CAROL, now - HOUR, subject="Tenant B secret", threats=(ev.ThreatType.Phish,),
                 urls=(pay,)),
    ]
    write_folded(store, events)
    yield {"store": store, "a": tenant_a, "b": tenant_b, "phish": phish, "spam": spam, "similar": similar,
           "other": other, "now": now}
    store.close()


@pytest.fixture(scope="module")
def explorer(mailbox, services, tmp_path_factory):
    """The served API with tokens for every role in tenant A and a reader in tenant B."""
    state = tmp_path_factory.mktemp("explorer-state")
    tokens = TokenStore.in_state_dir(state)
    issued = {role: tokens.create(f"{role}-user", mailbox["a"], role)[0]
              for role in ("reader", "investigator", "remediator", "admin")}
    issued["b_reader"] = tokens.create("b-user", mailbox["b"], "reader")[0]
    audit = AuditLog.in_state_dir(state)
    app = create_api(services, mailbox["store"], NoRemediationFlow(), tokens, audit)
    with ServedApp(app) as served:
        yield {"url": served.url, "tokens": issued, "audit": audit, "token_store": tokens}


def get(explorer, path, role="reader", **params):
    headers = {"Authorization": f"Bearer {explorer['tokens'][role]}"} if role else {}
    return requests.get(explorer["url"] + path, headers=headers, params=params, timeout=30)


def post(explorer, path, body, role="reader"):
    return requests.post(explorer["url"] + path, json=body, timeout=30,
                         headers={"Authorization": f"Bearer {explorer['tokens'][role]}"})


def keys(response) -> set[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return {(e["network_message_id"], e["recipient"]) for e in response.json()["emails"]}


def assert_refused(response, status: int, parameter: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "parameter", "detail"} and body["error"]
    if parameter is not None:
        assert body["parameter"] == parameter
    return body


# -- authentication ------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/v1/emails", "/api/v1/chart", "/api/v1/me", "/api/v1/remediations",
                                  "/api/v1/emails/x", "/api/v1/emails/x/timeline"])
def test_every_api_route_needs_a_token(explorer, path):
    response = get(explorer, path, role=None)
    assert_refused(response, 401, "Authorization")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = requests.get(explorer["url"] + path, headers={"Authorization": "Bearer itk_not-a-token"}, timeout=30)
    assert_refused(bad, 401, "Authorization")
    basic = requests.get(explorer["url"] + path, headers={"Authorization": "Basic YTpi"}, timeout=30)
    assert_refused(basic, 401)


def test_a_revoked_token_stops_working_on_the_running_server(explorer, mailbox):
    token, record = explorer["token_store"].create("temp", mailbox["a"], "reader")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(explorer["url"] + "/api/v1/me", headers=headers, timeout=30).status_code == 200
    TokenStore(explorer["token_store"].path).revoke(record.token_id)  # as `inboxtrail tokens revoke` does
    assert requests.get(explorer["url"] + "/api/v1/me", headers=headers, timeout=30).status_code == 401


def test_me_names_user_tenant_role_and_permissions(explorer, mailbox):
    me = get(explorer, "/api/v1/me", role="remediator").json()
    assert me == {"user": "remediator-user", "tenant_id": mailbox["a"], "role": "remediator",
                  "permissions": ["view", "export", "preview", "act"]}


# -- email list -------------------------------------------------------------------------------
def test_filter_to_delivered_phish(explorer, mailbox):
    found = keys(get(explorer, "/api/v1/emails", delivery_action="Delivered", threat_type="Phish"))
    # bob's copy was ZAPped: its latest threat is still Phish and its original action Delivered
    assert found == {(mailbox["phish"], ALICE), (mailbox["phish"], BOB), (mailbox["similar"], DAVE)}
    still_in_inbox = keys(get(explorer, "/api/v1/emails", delivery_action="Delivered", threat_type="Phish",
                              latest_location="Inbox"))
    assert still_in_inbox == {(mailbox["phish"], ALICE), (mailbox["similar"], DAVE)}


def test_list_rows_carry_what_the_email_list_shows(explorer, mailbox):
    rows = get(explorer, "/api/v1/emails", recipient=BOB).json()["emails"]
    assert len(rows) == 1
    row = rows[0]
    assert row["subject"] == "Invoice overdue" and row["sender_domain"] == "fabrikam.example"
    assert row["delivery_action"] == "Delivered" and row["original_location"] == "Inbox"
    assert row["latest_location"] == "Quarantine" and row["additional_actions"] == ["Zap"]
    assert row["threat_types"] == ["Phish"] and row["received_at"].endswith("Z")


def test_every_kind_of_filter(explorer, mailbox):
    a = mailbox
    assert keys(get(explorer, "/api/v1/emails", subject="INVOICE")) == {(a["phish"], ALICE), (a["phish"], BOB)}
    assert keys(get(explorer, "/api/v1/emails", not_threat_type="Phish")) == {(a["spam"], ALICE)}
    assert keys(get(explorer, "/api/v1/emails", sender_domain="TAILSPIN.example")) == {(a["spam"], ALICE)}
    assert keys(get(explorer, "/api/v1/emails", url_domain="fabrikam.example", recipient=[ALICE, DAVE])) == {
        (a["phish"], ALICE), (a["similar"], DAVE)}
    assert keys(get(explorer, "/api/v1/emails", attachment_sha256="ab" * 32)) == {(a["phish"], ALICE),
                                                                                   (a["phish"], BOB)}
    assert keys(get(explorer, "/api/v1/emails", size_max="1000")) == {(a["spam"], ALICE)}
    assert keys(get(explorer, "/api/v1/emails", additional_action="Zap")) == {(a["phish"], BOB)}
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(a["now"] / 1e6 - 2 * 3600))
    assert keys(get(explorer, "/api/v1/emails", received_from=recent)) == {(a["similar"], DAVE)}
    assert keys(get(explorer, "/api/v1/emails", received_to=recent)) == {(a["phish"], ALICE), (a["phish"], BOB),
                                                                        (a["spam"], ALICE)}


def test_sorting_and_keyset_paging_visit_every_copy_once(explorer, mailbox):
    everything = keys(get(explorer, "/api/v1/emails"))
    assert len(everything) == 4
    for sort in ("received_at", "subject", "size", "recipient"):
        for order in ("asc", "desc"):
            seen, cursor = [], None
            while True:
                params = {"sort": sort, "order": order, "limit": "1", **({"cursor": cursor} if cursor else {})}
                page = get(explorer, "/api/v1/emails", **params).json()
                seen += [(e["network_message_id"], e["recipient"]) for e in page["emails"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert len(seen) == len(set(seen)) and set(seen) == everything, (sort, order)
    received = [e["received_at"] for e in get(explorer, "/api/v1/emails", sort="received_at", order="asc").json()["emails"]]
    assert received == sorted(received)


@pytest.mark.parametrize("params, parameter", [
    ({"delivery_action": "Deliverd"}, "delivery_action"),
    ({"not_latest_location": "Mars"}, "not_latest_location"),
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"sort": "tenant_id"}, "sort"), ({"order": "sideways"}, "order"),
    ({"received_from": "yesterday"}, "received_from"), ({"received_from": "2026-12-04T10:00:00"}, "received_from"),
    ({"size_min": "-1"}, "size_min"), ({"size_min": "5", "size_max": "4"}, "size_min"),
    ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"), ({"tenant_id": "someone-else"}, "tenant_id"),
    ({"colour": "red"}, "colour"), ({"format": "xml"}, "format"), ({"subject": ["a", "b"]}, "subject"),
])
def test_bad_list_parameters_are_422_naming_the_parameter(explorer, params, parameter):
    assert_refused(get(explorer, "/api/v1/emails", **params), 422, parameter)


def test_a_cursor_is_bound_to_its_sort(explorer):
    cursor = get(explorer, "/api/v1/emails", limit="1").json()["next_cursor"]
    assert_refused(get(explorer, "/api/v1/emails", limit="1", cursor=cursor, sort="subject"), 422, "cursor")


@pytest.mark.parametrize("injection", INJECTIONS)
def test_injection_strings_in_every_filter_are_values_not_sql(explorer, mailbox, injection):
    from explorer.email_filters import FILTER_PARAMETERS
    from projections.queries import FACETS
    for parameter in FILTER_PARAMETERS:
        if parameter in ("received_from", "received_to", "size_min", "size_max"):
            response = get(explorer, "/api/v1/emails", **{parameter: injection})
            assert_refused(response, 422, parameter)
            continue
        facet = FACETS.get(parameter.removeprefix("not_"))
        response = get(explorer, "/api/v1/emails", **{parameter: injection})
        if facet is not None and facet.symbols is not None:
            assert_refused(response, 422, parameter)  # not a symbol of the enum
        elif parameter.startswith("not_"):
            assert len(keys(response)) == 4, parameter  # excludes nothing real
        elif parameter == "subject" and injection.lower() in "invoice overdue":
            continue
        else:
            assert keys(response) == set(), parameter
    assert get(explorer, "/api/v1/chart", sender_ip=injection, pivot="sender_ip").json()["series"] == []
    assert get(explorer, f"/api/v1/emails/{injection}/timeline").status_code in (404, 405)
    # the tables are intact and tenant B is still invisible
    assert len(keys(get(explorer, "/api/v1/emails"))) == 4


# -- tenants -----------------------------------------------------------------------------------
def test_tenant_a_cannot_read_tenant_b(explorer, mailbox):
    other = mailbox["other"]
    assert (other, CAROL) not in keys(get(explorer, "/api/v1/emails", limit="1000"))
    assert keys(get(explorer, "/api/v1/emails", network_message_id=other)) == set()
    assert_refused(get(explorer, f"/api/v1/emails/{other}"), 404)
    assert_refused(get(explorer, f"/api/v1/emails/{other}/{CAROL}"), 404)
    assert_refused(get(explorer, f"/api/v1/emails/{other}/timeline"), 404)
    chart = get(explorer, "/api/v1/chart", subject="Tenant B").json()
    assert chart["series"] == []
    # and B sees only its own copy, never A's similar messages
    assert keys(get(explorer, "/api/v1/emails", role="b_reader")) == {(other, CAROL)}
    details = get(explorer, f"/api/v1/emails/{other}/{CAROL}", role="b_reader").json()
    assert details["similar"] == []
    assert_refused(get(explorer, f"/api/v1/emails/{mailbox['phish']}", role="b_reader"), 404)


# -- details, similar, timeline ----------------------------------------------------------------
def test_message_details_list_every_copy(explorer, mailbox):
    body = get(explorer, f"/api/v1/emails/{mailbox['phish']}").json()
    copies = {c["recipient"]: c for c in body["copies"]}
    assert set(copies) == {ALICE, BOB}
    assert copies[BOB]["original_location"] == "Inbox" and copies[BOB]["latest_location"] == "Quarantine"
    assert copies[ALICE]["latest_location"] == "Inbox" and copies[ALICE]["additional_actions"] == []
    assert {(e["network_message_id"], e["recipient"]) for e in body["similar"]} == {(mailbox["similar"], DAVE)}


def test_copy_details_hold_urls_attachments_locations_actions_and_similar(explorer, mailbox):
    body = get(explorer, f"/api/v1/emails/{mailbox['phish'].upper()}/{BOB.upper()}").json()
    email = body["email"]
    assert email["recipient"] == BOB and email["subject"] == "Invoice overdue"
    assert email["urls"] == [{"url": "https://fabrikam.example/pay"}] and email["url_domains"] == ["fabrikam.example"]
    assert email["attachments"] == [{"file_name": "invoice.html", "file_type": "html", "sha256": "ab" * 32,
                                     "size": 2048}]
    assert (email["original_location"], email["latest_location"]) == ("Inbox", "Quarantine")
    assert email["additional_actions"] == ["Zap"] and email["event_count"] == 2
    assert email["sender_ip"] == "203.0.113.9" and email["detection_methods"] == ["UrlDetonation"]
    assert [s["network_message_id"] for s in body["similar"]] == [mailbox["similar"]]
    assert_refused(get(explorer, f"/api/v1/emails/{mailbox['phish']}/nobody@contoso.com"), 404, "recipient")
    assert_refused(get(explorer, f"/api/v1/emails/{uuid.uuid4()}"), 404, "network_message_id")


def test_timeline_json_in_event_order(explorer, mailbox):
    body = get(explorer, f"/api/v1/emails/{mailbox['phish']}/timeline").json()
    assert [(e["recipient"], e["type"]) for e in body["events"]] in (
        [(ALICE, "OriginalDelivery"), (BOB, "OriginalDelivery"), (BOB, "ZapMoved")],
        [(BOB, "OriginalDelivery"), (ALICE, "OriginalDelivery"), (BOB, "ZapMoved")])
    zapped = body["events"][-1]
    assert zapped["result"] == "Success" and zapped["to_location"] == "Quarantine" and zapped["source"] == "System"
    one = get(explorer, f"/api/v1/emails/{mailbox['phish']}/timeline", recipient=BOB).json()
    assert [e["type"] for e in one["events"]] == ["OriginalDelivery", "ZapMoved"]
    assert_refused(get(explorer, f"/api/v1/emails/{uuid.uuid4()}/timeline"), 404)
    assert_refused(get(explorer, f"/api/v1/emails/{mailbox['phish']}/timeline", since="x"), 422, "since")


def test_timeline_csv_export_needs_investigator_and_is_audited(explorer, mailbox):
    path = f"/api/v1/emails/{mailbox['phish']}/timeline"
    assert_refused(get(explorer, path, format="csv"), 403)
    response = requests.get(explorer["url"] + path, params={"format": "csv"}, timeout=30,
                            headers={"Authorization": f"Bearer {explorer['tokens']['investigator']}",
                                     "X-Reason": "case 4711"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 3
    assert {r["subject"] for r in rows} == {"Invoice overdue"}
    assert {r["sender"] for r in rows} == {"billing@fabrikam.example"}
    assert {r["recipient"] for r in rows} == {ALICE, BOB}
    assert {r["network_message_id"] for r in rows} == {mailbox["phish"]}
    assert all(r["internet_message_id"].startswith("<") for r in rows)
    audited = [e for e in explorer["audit"].entries(mailbox["a"]) if e["action"] == "export.timeline"]
    assert audited and audited[-1]["actor"] == "investigator-user" and audited[-1]["reason"] == "case 4711"
    assert audited[-1]["network_message_id"] == mailbox["phish"] and audited[-1]["at"].endswith("Z")


def test_list_export_streams_every_match_as_csv_or_json_lines(explorer, mailbox):
    assert_refused(get(explorer, "/api/v1/emails", format="csv"), 403)
    csv_response = get(explorer, "/api/v1/emails", role="investigator", format="csv", threat_type="Phish")
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert {(r["network_message_id"], r["recipient"]) for r in rows} == {
        (mailbox["phish"], ALICE), (mailbox["phish"], BOB), (mailbox["similar"], DAVE)}
    lines = get(explorer, "/api/v1/emails", role="investigator", format="jsonl").text.splitlines()
    assert len(lines) == 4 and all(json.loads(line)["recipient"] for line in lines)
    assert_refused(get(explorer, "/api/v1/emails", role="investigator", format="csv", limit="5"), 422, "limit")
    exports = [e for e in explorer["audit"].entries(mailbox["a"]) if e["action"] == "export.emails"]
    assert exports[-1]["actor"] == "investigator-user" and exports[-1]["format"] == "jsonl"


# -- chart ------------------------------------------------------------------------------------
def test_chart_counts_each_copy_once_per_pivot_value(explorer, mailbox):
    chart = get(explorer, "/api/v1/chart", pivot="delivery_action", interval="hour").json()
    totals = {s["value"]: s["total"] for s in chart["series"]}
    assert totals == {"Delivered": 3, "Junked": 1}
    assert chart["pivot"] == "delivery_action" and chart["interval"] == "hour"
    by_location = {s["value"]: s["total"] for s in get(explorer, "/api/v1/chart", pivot="latest_location").json()["series"]}
    assert by_location == {"Inbox": 2, "Quarantine": 1, "Junk": 1}
    phish_only = get(explorer, "/api/v1/chart", pivot="threat_type", threat_type="Phish").json()
    assert {s["value"]: s["total"] for s in phish_only["series"]} == {"Phish": 3}
    assert_refused(get(explorer, "/api/v1/chart", pivot="tenant_id"), 422, "pivot")
    assert_refused(get(explorer, "/api/v1/chart", interval="minute"), 422, "interval")
    assert_refused(get(explorer, "/api/v1/chart", sort="subject"), 422, "sort")


# -- remediation: refusals before the flow is reached --------------------------------------------
SOFT_DELETE_ALICE = {"action": "SoftDelete", "reason": "phish campaign", "targets": []}


@pytest.mark.parametrize("role", ["reader", "investigator"])
def test_a_reader_or_investigator_cannot_act(explorer, mailbox, role):
    body = {**SOFT_DELETE_ALICE, "targets": [{"network_message_id": mailbox["phish"], "recipient": ALICE}]}
    assert_refused(post(explorer, "/api/v1/remediations", body, role=role), 403)


def test_only_admins_approve(explorer):
    for role in ("reader", "investigator", "remediator"):
        assert_refused(post(explorer, f"/api/v1/remediations/{uuid.uuid4()}/approve", {}, role=role), 403)


def test_readers_cannot_preview(explorer, mailbox):
    body = {**SOFT_DELETE_ALICE, "targets": [{"network_message_id": mailbox["phish"], "recipient": ALICE}]}
    assert_refused(post(explorer, "/api/v1/remediations/preview", body, role="reader"), 403)


@pytest.mark.parametrize("body, status, parameter", [
    ({"action": "Explode", "reason": "x", "targets": [{"network_message_id": "m", "recipient": "r"}]}, 422, "action"),
    ({"action": "SoftDelete", "reason": " ", "targets": [{"network_message_id": "m", "recipient": "r"}]}, 422, "reason"),
    ({"action": "SoftDelete", "reason": "x"}, 422, "targets"),
    ({"action": "SoftDelete", "reason": "x", "targets": []}, 422, "targets"),
    ({"action": "SoftDelete", "reason": "x", "targets": [{"network_message_id": "m"}]}, 422, "targets[0]"),
    ({"action": "SoftDelete", "reason": "x", "filter": {"delivery_action": "Nope"}}, 422, "delivery_action"),
    ({"action": "SoftDelete", "reason": "x", "filter": {"limit": "5"}}, 422, "limit"),
    ({"action": "SoftDelete", "reason": "x", "filter": {"subject": {"a": 1}}}, 422, "filter.subject"),
    ({"action": "SoftDelete", "reason": "x", "filter": {}, "tenant_id": "t-b"}, 422, "tenant_id"),
    ([1, 2], 400, "body"),
])
def test_bad_remediation_requests_are_refused_naming_the_parameter(explorer, body, status, parameter):
    assert_refused(post(explorer, "/api/v1/remediations", body, role="remediator"), status, parameter)


def test_a_body_that_is_not_json_is_400(explorer):
    response = requests.post(explorer["url"] + "/api/v1/remediations", data="{not json", timeout=30,
                             headers={"Authorization": f"Bearer {explorer['tokens']['remediator']}"})
    assert_refused(response, 400, "body")


# -- operations --------------------------------------------------------------------------------
def test_health_readiness_metrics_and_openapi_are_open(explorer):
    assert requests.get(explorer["url"] + "/healthz", timeout=30).json() == {"status": "ok"}
    ready = requests.get(explorer["url"] + "/readyz", timeout=30)
    assert ready.status_code == 200 and ready.json()["store"] == "clickhouse"
    get(explorer, "/api/v1/emails")
    exposition = requests.get(explorer["url"] + "/metrics", timeout=30).text
    assert 'inboxtrail_api_requests_total{method="GET",route="/api/v1/emails",status="200"}' in exposition
    assert "inboxtrail_api_request_seconds_bucket" in exposition
    document = requests.get(explorer["url"] + "/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.") and "/api/v1/emails" in document["paths"]


def test_unknown_routes_and_methods_are_json_404_and_405(explorer):
    assert_refused(get(explorer, "/api/v1/nothing-here"), 404)
    assert_refused(requests.get(explorer["url"] + "/nothing", timeout=30), 404)
    response = requests.delete(explorer["url"] + "/api/v1/emails", timeout=30,
                               headers={"Authorization": f"Bearer {explorer['tokens']['admin']}"})
    assert_refused(response, 405)


def test_readyz_reports_an_unreachable_store(services, tmp_path):
    from projections.server_store import ClickHouseServerStore
    unreachable = ClickHouseServerStore(services.with_overrides(clickhouse_port=1))
    app = create_api(services, unreachable, NoRemediationFlow(), TokenStore.in_state_dir(tmp_path))
    with ServedApp(app) as served:
        response = requests.get(served.url + "/readyz", timeout=30)
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
