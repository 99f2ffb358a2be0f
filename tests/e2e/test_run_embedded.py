"""`inboxtrail run` with the embedded chDB store: worker + Explorer API in one process, simulated
traffic, and CLI read commands that go through the running API."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import REPO, TEST_STATE, cli_env, free_port, isolated_pipeline_env, poll, run_cli

pytestmark = pytest.mark.services


def test_run_serves_a_populated_explorer_and_the_cli_reads_through_it(services, tenant_id, tmp_path):
    env = isolated_pipeline_env("run")
    api_port = free_port()
    # the production defaults: embedded chDB store, RocksDB-backed table
    env.update(INBOXTRAIL_STORE="chdb", INBOXTRAIL_TABLE_STORE="rocksdb://", INBOXTRAIL_API_PORT=str(api_port),
               INBOXTRAIL_CLICKHOUSE_DATABASE="inboxtrail")
    (TEST_STATE / "chdb").mkdir(parents=True, exist_ok=True)
    output = tmp_path / "run.out"
    with open(output, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "inboxtrail.cli", "run", "--tenant", tenant_id,
                                 "--simulate-events", "3000", "--simulate-rate", "0"],
                                env=cli_env(**env), cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        token = poll(lambda: (re.findall(r"token\s+(itk_\S+)", output.read_text()) or [None])[0], timeout=120,
                     what="`inboxtrail run` to print its address and token")
        assert f"http://127.0.0.1:{api_port}/" in output.read_text()

        def emails():
            request = urllib.request.Request(f"http://127.0.0.1:{api_port}/api/v1/emails?limit=500",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())["emails"]
        listed = poll(lambda: emails() if len(emails()) >= 100 else None, timeout=120, interval=1.0,
                      what="the simulated traffic to be queryable")
        page = urllib.request.urlopen(f"http://127.0.0.1:{api_port}/", timeout=10)
        assert page.status == 200 and b"<html" in page.read().lower()

        # the CLI reads through the running API (only that process may open the chDB directory)
        explored = run_cli("explore", "--tenant", tenant_id, "--format", "json", "--limit", "5",
                           INBOXTRAIL_API_TOKEN=token, **env)
        assert explored.returncode == 0, explored.stderr
        rows = json.loads(explored.stdout)
        assert len(rows) == 5 and all(row["network_message_id"] for row in rows)
        first = listed[0]
        timeline = run_cli("timeline", first["network_message_id"], "--recipient", first["recipient"],
                           "--format", "json", INBOXTRAIL_API_TOKEN=token, **env)
        assert timeline.returncode == 0, timeline.stderr
        shown = json.loads(timeline.stdout)
        assert shown and {row["recipient"] for row in shown} == {first["recipient"]}
        assert "OriginalDelivery" in {row["type"] for row in shown}

        no_token = run_cli("explore", "--tenant", tenant_id, **env)
        assert no_token.returncode == 3 and "INBOXTRAIL_API_TOKEN" in no_token.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
