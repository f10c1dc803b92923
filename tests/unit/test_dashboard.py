"""deploy/grafana: dashboard structure, variables, metric names and PromQL syntax; provisioning.

The syntax check writes every panel expression into a throw-away recording-rule file and runs
`promtool check rules` on it (Prometheus' own parser). Missing promtool: fail when CI=true,
else skip that test.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import require_binary
from workers.ops.metrics import Metrics
from workers.ops.promexpr import (
    SCRAPE_SERIES,
    dashboard_expressions,
    dashboard_targets,
    metric_names,
    recording_names,
    series_names,
    substitute,
)

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "newsflow.json"
RULES = REPO / "deploy" / "prometheus" / "rules"

# What the dashboard must show (issue 4), as panel-title fragments, lower case.
REQUIRED_PANELS = [
    "messages in per stage", "messages out per stage", "per stage", "end-to-end latency",
    "consumer lag", "duplicate ratio", "dead letters by reason", "lines removed",
    "entities by label", "batch size", "cpu per worker", "memory per worker", "inference",
    "cleaning health per source",
]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, object]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(dashboard: dict[str, object]) -> list[dict[str, object]]:
    panels = dashboard["panels"]
    assert isinstance(panels, list)
    return [p for p in panels if p.get("type") != "row"]


def test_template_variables(dashboard: dict[str, object]) -> None:
    templating = dashboard["templating"]
    assert isinstance(templating, dict)
    variables = {v["name"]: v for v in templating["list"]}
    assert {"job", "instance"} <= set(variables)
    assert variables["instance"]["includeAll"] and variables["instance"]["allValue"] == ".*"
    assert "$job" in variables["instance"]["definition"]


def test_required_panels_exist(dashboard: dict[str, object]) -> None:
    titles = " | ".join(str(p["title"]).lower() for p in _panels(dashboard))
    missing = [want for want in REQUIRED_PANELS if want not in titles]
    assert not missing, f"dashboard lacks panels for {missing}"


def test_every_target_filters_by_job_and_instance() -> None:
    for title, expr in dashboard_targets(DASHBOARD):
        selectors = re.findall(r"\{[^{}]*\}", expr)
        assert selectors, f"{title}: {expr!r} selects without label matchers"
        for selector in selectors:
            assert 'job=~"$job"' in selector and 'instance=~"$instance"' in selector, (
                f"{title}: {selector} ignores the $job/$instance variables")


def test_expressions_reference_only_defined_metrics() -> None:
    # No `up` either: panels must work from the worker's own series and the recording rules.
    known = (series_names(Metrics().registry) | set(recording_names(RULES))) - SCRAPE_SERIES
    expressions = dashboard_expressions(DASHBOARD)
    assert len(expressions) >= 20
    for expr in expressions:
        names = metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        assert names <= known, f"{expr!r} refers to undefined {sorted(names - known)}"


def test_substitution_leaves_no_variables() -> None:
    for expr in dashboard_expressions(DASHBOARD):
        assert "$" not in expr and "[[" not in expr, expr
    assert substitute('rate(x{job=~"${job}"}[$__rate_interval])', {"job": "a"}) == (
        'rate(x{job=~"a"}[1m])')
    with pytest.raises(KeyError, match="nope"):
        substitute("x{a=\"$nope\"}")


def test_expressions_parse_with_promtool(tmp_path: Path) -> None:
    promtool = require_binary(
        "promtool", "run scripts/install-prometheus.sh (Debian `prometheus`)"
    )
    rules = [{"record": f"dashboard:panel_{i}:check", "expr": expr}
             for i, expr in enumerate(dashboard_expressions(DASHBOARD))]
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_panels_use_the_provisioned_datasource_and_do_not_overlap(
        dashboard: dict[str, object]) -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    cells: set[tuple[int, int]] = set()
    ids = set()
    for panel in _panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel.get("description"), f"{panel['title']} has no description"
        assert panel["id"] not in ids
        ids.add(panel["id"])
        pos = panel["gridPos"]
        assert isinstance(pos, dict) and pos["x"] + pos["w"] <= 24
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_provisioning_points_at_compose_prometheus_and_dashboards() -> None:
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "newsflow.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
