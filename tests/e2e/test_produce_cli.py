"""`inboxtrail produce`: JSON lines in, valid events published, bad lines reported by number."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from schemas.jsonform import event_to_json
from tests.conftest import poll, run_cli
from streams.publisher import publish_events
from tests.contract.test_pipeline import delivered
from tests.fold_scenarios import phishing_campaign
from tests.projection_snapshot import by_time_disagreements, snapshot

pytestmark = pytest.mark.services


def test_produce_publishes_valid_lines_reports_bad_ones_and_exits_non_zero(worker, settings, store, tenant_id, tmp_path):
    nmid = str(uuid.uuid4())
    good = event_to_json(delivered(tenant_id, nmid, "alice@contoso.com", time.time_ns() // 1000))
    shouting = dict(good, event_id=str(uuid.uuid4()), recipient="  Bob@Contoso.COM ")
    bad_enum = dict(good, event_id=str(uuid.uuid4()), payload=dict(good["payload"], delivery_location="Mars"))
    no_tenant = {k: v for k, v in good.items() if k != "tenant_id"}
    lines = [json.dumps(good), "", "{not json", json.dumps(shouting), json.dumps(bad_enum), json.dumps(no_tenant)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe not utf-8\n")

    result = run_cli("produce", str(path))

    assert result.returncode == 1
    assert "published 2, rejected 4" in result.stdout
    errors = result.stderr.splitlines()
    assert any(f"{path}:3:" in e and "not valid JSON" in e for e in errors)
    assert any(f"{path}:5:" in e and "payload.delivery_location" in e and "Mars" in e for e in errors)
    assert any(f"{path}:6:" in e and "tenant_id" in e for e in errors)
    assert any(f"{path}:7:" in e and "not UTF-8" in e for e in errors)
    copies = poll(lambda: (lambda t: t if len(t) == 2 else None)(store.timeline(nmid, tenant_id)), timeout=90,
                  what="both valid lines projected")
    assert sorted(e.recipient for e in copies) == ["alice@contoso.com", "bob@contoso.com"]


def test_produce_from_stdin_with_only_valid_lines_exits_zero(worker, settings, store, tenant_id):
    nmid = str(uuid.uuid4())
    line = json.dumps(event_to_json(delivered(tenant_id, nmid, "carol@contoso.com", time.time_ns() // 1000)))
    result = run_cli("produce", "-", input=line + "\n")
    assert result.returncode == 0, result.stderr
    assert "published 1, rejected 0" in result.stdout
    poll(lambda: store.timeline(nmid, tenant_id), timeout=90, what="the event projected")


def test_produce_of_a_missing_file_says_so(services):
    result = run_cli("produce", "/nonexistent/events.jsonl")
    assert result.returncode == 2
    assert "/nonexistent/events.jsonl" in result.stderr


def test_rebuild_from_the_log_gives_back_the_same_states(worker, settings, store, tenant_id):
    events, expected = phishing_campaign(tenant_id, seed=9, n_recipients=20)
    asyncio.run(publish_events(settings, events))
    poll(lambda: len(snapshot(store, tenant_id)["states"]) == len(expected) and
         sum(s["event_count"] for s in snapshot(store, tenant_id)["states"].values()) == len(events),
         timeout=120, what="the campaign projected")
    before = snapshot(store, tenant_id)
    result = run_cli("rebuild")
    assert result.returncode == 0, result.stderr
    assert "rebuild done" in result.stderr and "email_state and email_state_by_time rebuilt" in result.stdout
    assert snapshot(store, tenant_id) == before
    assert by_time_disagreements(before) == []
