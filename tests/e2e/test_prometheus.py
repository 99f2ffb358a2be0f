"""Debian's real Prometheus scrapes the session worker: inboxtrail's series arrive, count the
simulated traffic, and the alert rules of deploy/prometheus evaluate against them without error."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
import uuid

import pytest
import yaml

from tests.conftest import REPO, poll, run_cli

pytestmark = pytest.mark.services

RULES = REPO / "deploy" / "prometheus" / "rules.yml"
SIMULATED_EVENTS = 400


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def get_text(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


@pytest.fixture
def prometheus(worker, settings, tmp_path):
    """A Prometheus of our own (free port, own data dir) scraping the session worker every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus missing: install Debian's prometheus package (deploy/setup.sh does)")
    worker_metrics = f"http://127.0.0.1:{settings.worker_web_port}/metrics"
    poll(lambda: get_text(worker_metrics), timeout=90, what=f"the worker to serve {worker_metrics}")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "inboxtrail-worker", "metrics_path": "/metrics",
                            "static_configs": [{"targets": [f"127.0.0.1:{settings.worker_web_port}"]}]}],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([binary, f"--config.file={config_path}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: proc.poll() is not None or get_text(f"{base}/-/ready"), timeout=60, what="prometheus to start")
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def query(base: str, promql: str) -> list[dict]:
    answer = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    return answer["data"]["result"] if answer and answer.get("status") == "success" else []


def test_prometheus_scrapes_the_worker_and_evaluates_the_alert_rules(prometheus, tenant_id):
    # given a scraped worker
    poll(lambda: query(prometheus, 'up{job="inboxtrail-worker"} == 1'), timeout=60, what="a successful scrape")
    before = query(prometheus, 'inboxtrail_events_consumed_total{job="inboxtrail-worker"}')
    assert before, "the worker exposes no inboxtrail_events_consumed_total"
    consumed_before = float(before[0]["value"][1])

    # when simulated traffic for a tenant of our own goes through it
    result = run_cli("simulate", "--tenants", tenant_id, "--events", str(SIMULATED_EVENTS), "--rate", "0",
                     "--seed", str(uuid.uuid4().int % 10**6))
    assert result.returncode == 0, result.stderr

    # then Prometheus sees records consumed, projected by type, and their freshness. (Another
    # session's worker in the same consumer group may own some partitions, so this worker's count
    # grows by at most the events published, not necessarily by all of them.)
    poll(lambda: query(prometheus, f'inboxtrail_events_consumed_total > {consumed_before}'),
         timeout=90, what="the simulated events in inboxtrail_events_consumed_total")
    types = {series["metric"]["type"] for series in query(prometheus, "inboxtrail_events_projected_total > 0")}
    assert "OriginalDelivery" in types
    assert query(prometheus, "inboxtrail_projection_freshness_seconds_count > 0")
    assert query(prometheus, "inboxtrail_batch_size_events_count > 0")
    assert query(prometheus, "inboxtrail_writer_ready == 1")

    # and every alert rule has been evaluated against the real series without error
    def evaluated_rules():
        answer = get_json(f"{prometheus}/api/v1/rules")
        rules = [rule for group in answer["data"]["groups"] for rule in group["rules"]] if answer else []
        return rules if rules and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules) else None

    rules = poll(evaluated_rules, timeout=30, what="the alert rules to be evaluated")
    assert len(rules) == 9
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
