"""deploy/prometheus: promtool checks and unit tests, alert coverage, runbook links, metric names.

Needs `promtool` (Debian package `prometheus`, scripts/install-prometheus.sh). Missing: the
promtool tests fail when CI=true and are skipped otherwise.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import require_binary
from workers.ops.metrics import Metrics
from workers.ops.promexpr import (
    SCRAPE_SERIES,
    alert_names,
    metric_names,
    recording_names,
    rule_expressions,
    rules,
    series_names,
)

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "deploy" / "prometheus"
RULES = PROM / "rules"
RULE_TESTS = sorted((PROM / "tests").glob("*.yml"))
RUNBOOK = REPO / "docs" / "runbook.md"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool", "run scripts/install-prometheus.sh (Debian `prometheus`)")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_config(promtool: str) -> None:
    result = _run(promtool, "check", "config", str(PROM / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout + result.stderr


def test_promtool_check_rules(promtool: str) -> None:
    files = sorted(str(p) for p in RULES.glob("*.yml"))
    result = _run(promtool, "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules(promtool: str) -> None:
    assert RULE_TESTS, "no promtool rule tests in deploy/prometheus/tests"
    result = _run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def _test_cases() -> list[tuple[str, int, list[object]]]:
    """(alertname, eval_time, exp_alerts) of every alert_rule_test in the promtool tests."""
    cases = []
    for path in RULE_TESTS:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in document["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.append((case["alertname"], case["eval_time"], case.get("exp_alerts") or []))
    return cases


@pytest.mark.parametrize("alert", alert_names(RULES))
def test_every_alert_has_firing_and_quiet_cases(alert: str) -> None:
    cases = [c for c in _test_cases() if c[0] == alert]
    assert any(expected for _, _, expected in cases), f"{alert}: no test where it fires"
    assert any(not expected for _, _, expected in cases), f"{alert}: no test where it is quiet"


def test_tests_name_only_existing_alerts() -> None:
    assert {name for name, _, _ in _test_cases()} <= set(alert_names(RULES))


def _anchors(markdown: str) -> set[str]:
    """GitHub-style heading anchors."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("rule", [r for r in rules(RULES) if "alert" in r],
                         ids=lambda r: r["alert"])
def test_alert_annotations_and_runbook(rule: dict[str, object]) -> None:
    annotations = rule.get("annotations")
    assert isinstance(annotations, dict)
    assert {"summary", "description", "runbook_url"} <= set(annotations)
    labels = rule.get("labels")
    assert isinstance(labels, dict) and labels.get("severity") in {"warning", "critical"}
    assert rule.get("for"), "alerts must not fire on one evaluation"
    path, _, anchor = str(annotations["runbook_url"]).partition("#")
    assert path == "docs/runbook.md"
    assert anchor in _anchors(RUNBOOK.read_text(encoding="utf-8")), (
        f"docs/runbook.md has no section #{anchor}")


def test_rules_reference_only_exposed_metrics() -> None:
    known = series_names(Metrics().registry) | set(recording_names(RULES)) | SCRAPE_SERIES
    for expr in rule_expressions(RULES):
        unknown = metric_names(expr) - known
        assert not unknown, f"{expr!r} refers to {sorted(unknown)}"


def test_recording_rule_names_follow_level_metric_operations() -> None:
    for name in recording_names(RULES):
        assert re.fullmatch(r"[a-z_]+:newsflow_[a-z0-9_]+:[a-z0-9_]+", name), name


def test_scrape_config_targets_the_compose_worker() -> None:
    config = yaml.safe_load((PROM / "prometheus.yml").read_text(encoding="utf-8"))
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "newsflow")
    assert job["metrics_path"] == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["worker"] and sd["port"] == 6066
    assert "rules/*.yml" in config["rule_files"]


def test_local_config_for_integration_tests_is_valid(promtool: str, tmp_path: Path) -> None:
    from workers.ops.promexpr import local_config

    path = tmp_path / "prometheus.yml"
    path.write_text(local_config("127.0.0.1:6066", RULES))
    result = _run(promtool, "check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout + result.stderr
