"""The Grafana dashboard and the README's metrics list stay true to ``/metrics``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.metrics import Metrics
from tests.fakes.tasks import make_request, settled
from tests.observability import scrape

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
# Metric names are the only identifiers in the expressions with these prefixes.
METRIC_NAME = re.compile(r"\b(?:sorabot|process|python)_[a-z0-9_]+\b")


def _targets(dashboard: dict) -> list[dict]:
    return [t for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_dashboard_is_grafana_json_with_a_query_on_every_chart():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))

    charts = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert charts
    assert all(p.get("targets") for p in charts)
    assert all(t["expr"] and t["refId"] for t in _targets(dashboard))


@pytest.mark.e2e
async def test_every_metric_the_dashboard_charts_is_in_metrics_output(make_runtime):
    runtime = await make_runtime()
    # One task that meets a provider error, so every family has a sample.
    task = await runtime.service.submit(make_request("a goose #servererror"))
    await settled(runtime, task.id)
    exported = {name for name, _ in await scrape(runtime.base_url)}

    charted = set(METRIC_NAME.findall(DASHBOARD.read_text(encoding="utf-8")))

    assert len(charted) >= 10
    assert charted - exported == set()


def test_readme_lists_every_sorabot_metric_and_no_other():
    body, _ = Metrics().render()
    types = re.findall(r"^# TYPE (sorabot_\w+) ", body.decode(), re.MULTILINE)
    # prometheus_client's ``_created`` timestamps go with their counter.
    declared = {name for name in types if not name.endswith("_created")}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    listed = set(re.findall(r"^  \| `(sorabot_\w+)` \|", readme, re.MULTILINE))

    assert listed == declared
