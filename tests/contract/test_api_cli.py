"""`inboxtrail tokens | explore | export | serve` against the session's ClickHouse server: the
same query and export code as the API, run as the user runs it."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import uuid

import pytest
import requests

from schemas import events as ev
from tests.conftest import REPO, cli_env, run_cli
from tests.explorer_harness import HOUR, delivery, free_port, write_folded, zap

pytestmark = pytest.mark.services


@pytest.fixture
def tenant_mail(store, tenant_id):
    now = time.time_ns() // 1000
    phish, spam = str(uuid.uuid4()), str(uuid.uuid4())
    bob = delivery(tenant_id, phish, "bob@contoso.com", now - 2 * HOUR, subject="=HYPERLINK(\"x\") Invoice",
                   threats=(ev.ThreatType.Phish,))
    write_folded(store, [
        delivery(tenant_id, phish, "alice@contoso.com", now - 2 * HOUR, subject="=HYPERLINK(\"x\") Invoice",
                 threats=(ev.ThreatType.Phish,)),
        bob, zap(bob, now - HOUR),
        delivery(tenant_id, spam, "alice@contoso.com", now - 3 * HOUR, subject="Cheap watches",
                 action=ev.DeliveryAction.Junked, location=ev.DeliveryLocation.Junk, threats=(ev.ThreatType.Spam,)),
    ])
    return {"phish": phish, "spam": spam}


def test_tokens_are_created_once_listed_without_secrets_and_revoked(tmp_path, services):
    state = {"INBOXTRAIL_STATE_DIR": str(tmp_path)}
    created = run_cli("tokens", "create", "--user", "ann", "--tenant", "contoso", "--role", "investigator", **state)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("itk_") and len(token) > 40
    stored = (tmp_path / "tokens.json").read_text()
    assert token not in stored and "ann" in stored
    assert oct((tmp_path / "tokens.json").stat().st_mode & 0o777) == "0o600"
    listed = json.loads(run_cli("tokens", "list", "--format", "json", **state).stdout)
    assert [(t["user"], t["tenant"], t["role"]) for t in listed] == [("ann", "contoso", "investigator")]
    assert token not in json.dumps(listed)
    assert run_cli("tokens", "revoke", listed[0]["token_id"], **state).returncode == 0
    assert json.loads(run_cli("tokens", "list", "--format", "json", **state).stdout) == []
    again = run_cli("tokens", "revoke", listed[0]["token_id"], **state)
    assert again.returncode == 1 and "no token" in again.stderr
    bad = run_cli("tokens", "create", "--user", "x", "--tenant", "t", "--role", "root", **state)
    assert bad.returncode == 2
    actions = [json.loads(line)["action"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert actions == ["token.create", "token.revoke"]


def test_explore_filters_like_the_api(tenant_mail, tenant_id):
    result = run_cli("explore", "--tenant", tenant_id, "--threat-type", "Phish", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["recipient"] for r in rows} == {"alice@contoso.com", "bob@contoso.com"}
    table = run_cli("explore", "--tenant", tenant_id, "--not-threat-type", "Phish")
    assert "Cheap watches" in table.stdout and "Invoice" not in table.stdout
    paged = run_cli("explore", "--tenant", tenant_id, "--limit", "1", "--format", "json")
    assert len(json.loads(paged.stdout)) == 1 and "--cursor" in paged.stderr
    wrong = run_cli("explore", "--tenant", tenant_id, "--received-from", "yesterday")
    assert wrong.returncode == 2 and "--received-from" in wrong.stderr
    other = run_cli("explore", "--tenant", f"{tenant_id}-other", "--format", "json")
    assert json.loads(other.stdout) == []


def test_export_streams_the_list_and_a_timeline(tenant_mail, tenant_id, tmp_path):
    state = {"INBOXTRAIL_STATE_DIR": str(tmp_path)}
    listed = run_cli("export", "--tenant", tenant_id, "--reason", "case 9", **state)
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert len(rows) == 3
    # a subject that a spreadsheet would run as a formula is defused
    assert {r["subject"] for r in rows} == {"'=HYPERLINK(\"x\") Invoice", "Cheap watches"}
    lines = run_cli("export", "--tenant", tenant_id, "--format", "jsonl", "--delivery-action", "Junked",
                    **state).stdout.splitlines()
    assert [json.loads(line)["subject"] for line in lines] == ["Cheap watches"]
    timeline = run_cli("export", "--tenant", tenant_id, "--timeline", tenant_mail["phish"], "--recipient",
                       "bob@contoso.com", "--output", str(tmp_path / "t.csv"), **state)
    assert timeline.returncode == 0, timeline.stderr
    events = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    assert [e["type"] for e in events] == ["OriginalDelivery", "ZapMoved"]
    assert {e["recipient"] for e in events} == {"bob@contoso.com"} and events[0]["sender"]
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [a["action"] for a in audit] == ["export.emails", "export.emails", "export.timeline"]
    assert audit[0]["reason"] == "case 9" and audit[0]["actor"].startswith("cli:")


def test_serve_answers_with_a_cli_created_token(tenant_mail, tenant_id, tmp_path):
    state = {"INBOXTRAIL_STATE_DIR": str(tmp_path), "INBOXTRAIL_API_PORT": str(free_port())}
    token = run_cli("tokens", "create", "--user", "rita", "--tenant", tenant_id, "--role", "reader",
                    **state).stdout.strip()
    server = subprocess.Popen([sys.executable, "-m", "inboxtrail.cli", "serve"], env=cli_env(**state), cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{state['INBOXTRAIL_API_PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not become ready"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        emails = requests.get(url + "/api/v1/emails", headers=headers, params={"threat_type": "Phish"}, timeout=10)
        assert {e["recipient"] for e in emails.json()["emails"]} == {"alice@contoso.com", "bob@contoso.com"}
        page = requests.get(url + "/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        # `serve` with a ClickHouse server hands remediations to the worker's agent through Kafka
        remediator = run_cli("tokens", "create", "--user", "remy", "--tenant", tenant_id, "--role", "remediator",
                             **state).stdout.strip()
        accepted = requests.post(url + "/api/v1/remediations", timeout=10,
                                headers={"Authorization": f"Bearer {remediator}"},
                                json={"action": "SoftDelete", "reason": "x",
                                      "targets": [{"network_message_id": tenant_mail["phish"],
                                                   "recipient": "bob@contoso.com"}]})
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["state"] in ("Queued", "InProgress", "Completed")
    finally:
        server.terminate()
        server.wait(timeout=30)
