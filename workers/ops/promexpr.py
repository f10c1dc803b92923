"""PromQL expressions of the Grafana dashboard and the Prometheus rules, ready to evaluate.

Tests use this to check that every dashboard panel and every rule refers only to metrics the
worker exposes (or to recording rules), and the integration test evaluates each expression
against a real Prometheus scraping a live worker. Dashboard variables (``$job``,
``${instance}``, ``$__rate_interval``, ...) are replaced with concrete values first.

The metric-name extraction is a small lexer, not a PromQL parser: it drops string literals,
label matchers, range selectors and grouping clauses, then takes every remaining identifier that
is not a function call or a keyword. That is enough for the expressions in ``deploy/``; Prometheus
itself (``promtool check rules``) validates the syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

# Series names Prometheus sees for each metric type (text exposition).
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}
# Series Prometheus adds itself on every scrape.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped",
                           "scrape_samples_post_metric_relabeling", "scrape_series_added"})

# Values for Grafana's variables when an expression is evaluated outside Grafana.
DEFAULT_VARIABLES: dict[str, str] = {
    "job": "newsflow",
    "instance": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "__range_s": "3600",
}

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# Possessive `*+`: a function name must not match by backtracking ("sum(" must not yield "su").
_IDENT = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*+)(?!\s*\()")
_KEYWORDS = frozenset({
    "and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring", "group_left",
    "group_right", "inf", "nan", "Inf", "NaN", "start", "end", "atan2",
})


def substitute(expr: str, variables: Mapping[str, str] | None = None) -> str:
    """Replace ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]`` with concrete values."""
    values = {**DEFAULT_VARIABLES, **(variables or {})}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise KeyError(f"no value for dashboard variable ${name} in {expr!r}; pass it in "
                           "`variables`")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows nest their panels


def dashboard_targets(dashboard_json_path: str | Path) -> list[tuple[str, str]]:
    """``(panel title, raw expression)`` for every Prometheus target of the dashboard."""
    dashboard = json.loads(Path(dashboard_json_path).read_text(encoding="utf-8"))
    found = []
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            expr = target.get("expr")
            if expr and not target.get("hide", False):
                found.append((str(panel.get("title", "")), str(expr)))
    return found


def dashboard_expressions(dashboard_json_path: str | Path,
                          variables: Mapping[str, str] | None = None) -> list[str]:
    """Every panel expression of the dashboard, with its variables substituted."""
    return [substitute(expr, variables) for _, expr in dashboard_targets(dashboard_json_path)]


def load_rule_groups(rules_dir: str | Path) -> list[dict[str, Any]]:
    """All rule groups of the ``*.yml``/``*.yaml`` files in ``rules_dir``, in file order."""
    import yaml  # PyYAML is a dev dependency; only tests and tooling read rule files

    groups: list[dict[str, Any]] = []
    root = Path(rules_dir)
    for path in sorted([*root.glob("*.yml"), *root.glob("*.yaml")]):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        groups.extend(document.get("groups", []))
    return groups


def rules(rules_dir: str | Path) -> list[dict[str, Any]]:
    """Every rule (recording and alerting) as the YAML mapping."""
    return [rule for group in load_rule_groups(rules_dir) for rule in group.get("rules", [])]


def rule_expressions(rules_dir: str | Path) -> list[str]:
    """The ``expr`` of every recording and alerting rule, whitespace-normalised."""
    return [" ".join(str(rule["expr"]).split()) for rule in rules(rules_dir)]


def alert_names(rules_dir: str | Path) -> list[str]:
    return [rule["alert"] for rule in rules(rules_dir) if "alert" in rule]


def recording_names(rules_dir: str | Path) -> list[str]:
    return [rule["record"] for rule in rules(rules_dir) if "record" in rule]


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects (functions and keywords excluded)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENT.findall(text) if name not in _KEYWORDS}


def series_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a scrape of ``registry`` can produce (``_total``, ``_bucket``, ...).

    Derived from the metric families and their types, so label children need not exist yet.
    """
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def local_config(target: str, rules_dir: str | Path, *, job: str = "newsflow",
                 interval: str = "1s") -> str:
    """A Prometheus config scraping one ``host:port`` with the repo's rules (integration tests).

    JSON is valid YAML, so the result can be written straight to ``prometheus.yml``. Alert
    expressions select nothing while the worker is healthy: check each query's status, not
    that it returns series.
    """
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(Path(rules_dir).resolve() / "*.yml")],
        "scrape_configs": [{"job_name": job, "metrics_path": "/metrics",
                            "static_configs": [{"targets": [target]}]}],
    }
    return json.dumps(config, indent=2)
