"""The Grafana dashboard and the Prometheus alert rules refer only to series `streams/metrics.py`
exposes, under their exposed names (`_total` on counters, `_bucket`/`_sum`/`_count` on histograms),
and their PromQL parses (checked by Debian's `promtool`)."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streams import metrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "inboxtrail.json"
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
METRIC_NAME = re.compile(r"\binboxtrail_[a-z0-9_]+")
LABEL_VALUES = re.compile(r"^label_values\((.+), *[a-z_]+\)$")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
# Grafana's variables, given values that make the expressions plain PromQL for promtool
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$worker_job": ".*", "$api_job": ".*"}


def exposed_series_names() -> set[str]:
    return {name + suffix for name, kind in metrics.metric_families().items() for suffix in SUFFIXES[kind]}


def dashboard_panels() -> list[dict]:
    panels = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_expressions() -> list[str]:
    expressions = [target["expr"] for panel in dashboard_panels() for target in panel.get("targets", [])]
    templating = json.loads(DASHBOARD.read_text())["templating"]["list"]
    return expressions + [variable["query"] for variable in templating if variable["type"] == "query"]


def rule_expressions() -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_exposed_names_are_what_a_scrape_shows():
    metrics.observe_api_request("/api/v1/emails", "GET", 200, 0.01)
    metrics.set_lag(0, 0)
    metrics.count_dead_letter("truncated")
    metrics.observe_write("clickhouse", 0.01, ok=False)
    body, _ = metrics.render_latest()
    scraped = {line.split("{")[0].split(" ")[0] for line in body.decode().splitlines()
               if line.startswith("inboxtrail_")}
    assert scraped == exposed_series_names()


@pytest.mark.parametrize("source, expressions", [("dashboard", dashboard_expressions), ("alert rules", rule_expressions)])
def test_every_referenced_series_exists(source, expressions):
    exposed = exposed_series_names()
    referenced = {name for expr in expressions() for name in METRIC_NAME.findall(expr)}
    assert referenced, f"the {source} refer to no inboxtrail series"
    assert referenced <= exposed, f"{source} refer to series that streams/metrics.py does not expose"


def test_dashboard_shows_what_operators_watch():
    panels = [panel for panel in dashboard_panels() if panel["type"] != "row"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    assert all(panel.get("targets") and panel["title"] for panel in panels)
    text = "\n".join(dashboard_expressions())
    for wanted in ("rate(inboxtrail_events_consumed_total", "sum by (reason) (rate(inboxtrail_dead_letters_total",
                   "histogram_quantile(0.99, sum by (store, le) (rate(inboxtrail_store_write_seconds_bucket",
                   "histogram_quantile(0.5, sum by (le) (rate(inboxtrail_projection_freshness_seconds_bucket",
                   "histogram_quantile(0.99, sum by (le) (rate(inboxtrail_projection_freshness_seconds_bucket",
                   "sum by (partition) (inboxtrail_consumer_lag_events", "inboxtrail_writer_ready",
                   "histogram_quantile(0.99, sum by (route, le) (rate(inboxtrail_api_request_seconds_bucket"):
        assert wanted in text, wanted


def test_dashboard_expressions_are_valid_promql(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing: install Debian's prometheus package (deploy/setup.sh does)")
    expressions = []
    for expr in dashboard_expressions():
        expr = LABEL_VALUES.sub(r"\1", expr)  # Grafana's variable query, not PromQL
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"unknown Grafana variable in {expr}"
        expressions.append(expr)
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expression_{index}", "expr": expr} for index, expr in enumerate(expressions)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
