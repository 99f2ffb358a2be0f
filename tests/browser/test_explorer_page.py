"""The Explorer page in headless Chromium (Debian's /usr/bin/chromium via Playwright): an analyst
filters to delivered phish, opens an email, reads its timeline, and soft deletes it as a
remediator; the latest location changes once the remediation agent has acted.

The mail goes through the real pipeline (Kafka → worker → ClickHouse), so the worker's fold state
knows the copy when the remediation agent decides. Screenshots: test-artifacts/explorer-*.png.
"""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import pytest

from explorer.api import create_api
from explorer.audit import AuditLog
from explorer.auth import TokenStore
from schemas import events as ev
from streams.publisher import publish_events
from tests.conftest import REPO, poll
from tests.explorer_harness import HOUR, ServedApp, delivery

pytestmark = pytest.mark.services

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
playwright_api = pytest.importorskip("playwright.sync_api")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (deploy/setup.sh installs it)", allow_module_level=True)


def remediation_flow(settings):
    """The real remediation flow: commands to the session worker's remediation agent, with a
    store connection of its own (a clickhouse-driver client serves one thread)."""
    from explorer.remediation_service import RemediationService
    from projections.server_store import ClickHouseServerStore
    return RemediationService(settings, ClickHouseServerStore(settings))


@pytest.fixture(scope="module")
def published_mail(worker, services):
    """A delivered phish (to alice and bob), a junked spam and a quarantined malware, published to
    mailflow.events and projected by the session's worker."""
    from projections.server_store import ClickHouseServerStore
    tenant = f"t-web-{uuid.uuid4().hex[:8]}"
    now = time.time_ns() // 1000
    phish, spam, malware = (str(uuid.uuid4()) for _ in range(3))
    events = [
        delivery(tenant, phish, "alice@contoso.com", now - 5 * HOUR, subject="Your mailbox is almost full",
                 sender="it-support@contoso-help.example", threats=(ev.ThreatType.Phish,),
                 methods=(ev.DetectionMethod.UrlDetonation,), urls=("https://contoso-help.example/login",)),
        delivery(tenant, phish, "bob@contoso.com", now - 5 * HOUR, subject="Your mailbox is almost full",
                 sender="it-support@contoso-help.example", threats=(ev.ThreatType.Phish,),
                 urls=("https://contoso-help.example/login",)),
        delivery(tenant, spam, "alice@contoso.com", now - 26 * HOUR, subject="Cheap watches",
                 sender="news@tailspin.example", action=ev.DeliveryAction.Junked, location=ev.DeliveryLocation.Junk,
                 threats=(ev.ThreatType.Spam,)),
        delivery(tenant, malware, "carol@contoso.com", now - 2 * HOUR, subject="Invoice attached",
                 action=ev.DeliveryAction.Blocked, location=ev.DeliveryLocation.Quarantine,
                 threats=(ev.ThreatType.Malware,),
                 attachments=(ev.Attachment("invoice.docm", "docm", "cd" * 32, 48_000),)),
    ]
    asyncio.run(publish_events(services, events))
    store = ClickHouseServerStore(services)
    poll(lambda: len(store.timeline(phish, tenant)) == 2 and store.email_details(tenant, malware),
         timeout=120, what="the worker to project the published mail")
    yield {"tenant": tenant, "phish": phish, "store": store}
    store.close()


@pytest.fixture(scope="module")
def explorer(published_mail, services, tmp_path_factory):
    state = tmp_path_factory.mktemp("web-state")
    tokens = TokenStore.in_state_dir(state)
    issued = {role: tokens.create(f"{role}-web", published_mail["tenant"], role)[0]
              for role in ("reader", "remediator")}
    flow = remediation_flow(services)
    app = create_api(services, published_mail["store"], flow, tokens, AuditLog.in_state_dir(state))
    with ServedApp(app) as served:
        yield {"url": served.url, "tokens": issued, "flow": flow}


@pytest.fixture
def page():
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 1500, "height": 950}, accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"


def sign_in(page, explorer, role):
    page.goto(explorer["url"] + "/")
    page.fill("#token-input", explorer["tokens"][role])
    page.click("#token-form button[type=submit]")
    playwright_api.expect(page.locator("#who")).to_contain_text(role)


def recipients_listed(page) -> set[str]:
    return set(page.locator("#emails tbody tr td:nth-child(4)").all_inner_texts())


def test_a_reader_sees_mail_but_no_take_action(page, explorer):
    sign_in(page, explorer, "reader")
    playwright_api.expect(page.locator("#emails tbody tr")).to_have_count(4)
    assert page.locator("#take-action").is_hidden() and page.locator("#export-list").is_hidden()
    page.screenshot(path=str(ARTIFACTS / "explorer-reader.png"), full_page=True)


def test_filter_open_timeline_and_soft_delete_a_delivered_phish(page, explorer, published_mail):
    expect = playwright_api.expect
    sign_in(page, explorer, "remediator")
    rows = page.locator("#emails tbody tr")
    expect(rows).to_have_count(4)
    # filter to delivered phish: the chart legend (pivot: delivery action) and the filter bar
    page.locator("#legend button[data-value=Delivered]").click()
    expect(page.locator("#chips li")).to_have_count(1)
    page.select_option("#facet", "threat_type")
    page.fill("#facet-value", "Phish")
    page.click("#add-filter")
    expect(page.locator("#chips li")).to_have_count(2)
    expect(rows).to_have_count(2)
    assert recipients_listed(page) == {"alice@contoso.com", "bob@contoso.com"}
    expect(page.locator("#legend button")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "explorer-1-delivered-phish.png"), full_page=True)

    # open alice's copy: details, then its timeline
    alice = rows.filter(has_text="alice@contoso.com")
    alice.locator("a.subject").click()
    details = page.locator("#details")
    expect(details).to_be_visible()
    expect(page.locator("#details-subject")).to_have_text("Your mailbox is almost full")
    expect(page.locator("#panel-details")).to_contain_text("https://contoso-help.example/login")
    expect(page.locator("#panel-details")).to_contain_text("Inbox/folder")
    page.screenshot(path=str(ARTIFACTS / "explorer-2-details.png"), full_page=True)
    page.click("#tab-timeline")
    timeline = page.locator("#timeline tbody tr")
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_contain_text("OriginalDelivery")
    page.screenshot(path=str(ARTIFACTS / "explorer-3-timeline.png"), full_page=True)

    # soft delete it as a remediator
    alice.locator("input[type=checkbox]").check()
    page.select_option("#action", "SoftDelete")
    page.fill("#reason", "credential phish, browser test")
    page.click("#take-action")
    status = page.locator("#action-status")
    expect(status).not_to_be_empty()
    page.screenshot(path=str(ARTIFACTS / "explorer-4-action-submitted.png"), full_page=True)
    # the agent acts and the fold moves the copy: wait for it, never fake it
    expect(status).to_contain_text(re.compile("Completed|Success"), timeout=120_000)
    poll(lambda: published_mail["store"].email_details(published_mail["tenant"], published_mail["phish"],
                                                       "alice@contoso.com")[0].latest_location == "SoftDeleted",
         timeout=120, what="the soft delete to reach email_state")
    page.click("#apply")
    expect(page.locator("#emails tbody tr", has_text="alice@contoso.com").locator(".latest-location")) \
        .to_have_text("Soft-deleted", timeout=30_000)
    page.click("#tab-timeline")
    expect(page.locator("#timeline tbody tr").last).to_contain_text("Soft delete")
    expect(page.locator("#timeline tbody tr").last).to_contain_text("remediator-web")
    page.screenshot(path=str(ARTIFACTS / "explorer-5-soft-deleted.png"), full_page=True)
