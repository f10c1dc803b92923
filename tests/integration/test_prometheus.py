"""Observability against a real Prometheus server (Debian package) scraping a live worker.

Articles go through the real broker; then every dashboard panel expression and every recording
rule must return data, every alert expression must evaluate and reference only series that
exist, and the counters must match the articles actually produced and received.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.integration.conftest import REPO_ROOT, collect, produce, running_worker
from tests.support import require_binary
from workers.ops import promexpr
from workers.settings import Settings
from workers.tools.demo import free_port

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "newsflow.json"
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules"


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> dict:
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())

    def value(self, expr: str) -> float:
        result = self.query(expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else float("nan")


@pytest.fixture
def prometheus(tmp_path: Path, run_config: Settings) -> Iterator[Prometheus]:
    binary = require_binary("prometheus", "run scripts/install-prometheus.sh")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(promexpr.local_config(f"127.0.0.1:{run_config.web_port}", RULES))
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "prometheus.log", "wb"),  # noqa: SIM115
    )
    prom = Prometheus(port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{prom.base}/-/ready", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"prometheus did not start: {(tmp_path / 'prometheus.log').read_text()}")
    yield prom
    proc.terminate()
    proc.wait(10)


def test_dashboards_rules_and_counters_against_real_prometheus(
    run_config: Settings, prometheus: Prometheus, shared_data: Path, seed_article: str
) -> None:
    lines = (shared_data / "news-dev.jsonl").read_bytes().splitlines()[600:640]
    docs = [orjson.loads(x) for x in lines]
    inputs = [(b"seed", orjson.dumps({"id": "seed", "body": seed_article}))]
    inputs += [(d["id"].encode(), orjson.dumps(d)) for d in docs]
    inputs += [
        (f"copy-{d['id']}".encode(), orjson.dumps({**d, "id": f"copy-{d['id']}"})) for d in docs[:5]
    ]
    inputs += [(None, b"{broken json %d" % i) for i in range(5)]

    with running_worker(run_config):
        produce(run_config, inputs)
        outputs = collect(
            run_config,
            [run_config.topic_enriched, run_config.topic_duplicates, run_config.topic_deadletter],
            expected=len(inputs),
            timeout=300,
        )
        by_topic = {
            t: sum(1 for r in outputs if r.topic == t)
            for t in (
                run_config.topic_enriched,
                run_config.topic_duplicates,
                run_config.topic_deadletter,
            )
        }
        # Let Prometheus scrape the final counters and evaluate the rules a few times, and the
        # lag timer (5 s) run.
        expected_in = float(len(inputs))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = prometheus.value('sum(newsflow_stage_messages_in_total{stage="clean"})')
            if got == expected_in:
                break
            time.sleep(1)
        # The recording rules run every 15 s (their group interval): wait for every recorded
        # series to appear, as a dashboard would after its first refresh.
        deadline = time.monotonic() + 60
        pending = set(promexpr.recording_names(RULES))
        while pending and time.monotonic() < deadline:
            pending = {
                name for name in pending
                if not prometheus.query(f'count({{__name__="{name}"}})')["data"]["result"]
            }
            time.sleep(1)
        time.sleep(2)

        # Counters match what was produced and what came out.
        assert (
            prometheus.value('sum(newsflow_stage_messages_in_total{stage="clean"})') == expected_in
        )
        assert (
            prometheus.value('sum(newsflow_stage_messages_out_total{stage="tag",outcome="ok"})')
            == by_topic[run_config.topic_enriched]
        )
        assert (
            prometheus.value(
                'sum(newsflow_stage_messages_out_total{stage="dedup",outcome="duplicate"})'
            )
            == by_topic[run_config.topic_duplicates]
        )
        assert (
            prometheus.value("sum(newsflow_deadletters_total)")
            == by_topic[run_config.topic_deadletter]
        )
        assert prometheus.value('sum(newsflow_duplicates_total{kind="exact"})') >= 5
        # Every article that reached the cleaner (the broken JSON did not) was counted once
        # under a bounded source label: the dev file's one source and "none" for the seed.
        assert prometheus.value("sum(newsflow_clean_source_articles_total)") == expected_in - 5
        assert prometheus.value('count(newsflow_clean_source_articles_total > 0)') == 2
        assert prometheus.value(
            'sum(newsflow_clean_source_articles_total{source="none"})') == 1
        # Inference runs in child processes; its time and their memory reach the parent's
        # /metrics: every tagged article was in a batch whose model time was observed.
        assert prometheus.value("sum(newsflow_tag_batch_size_articles_sum)") == by_topic[
            run_config.topic_enriched]
        assert prometheus.value("sum(newsflow_tag_inference_seconds_sum)") > 0
        assert prometheus.value("sum(newsflow_tag_inference_seconds_count)") == prometheus.value(
            "sum(newsflow_tag_batch_size_articles_count)")
        assert prometheus.value("sum(newsflow_child_processes_resident_memory_bytes)") > 50e6

        # Every dashboard panel and recording rule returns data.
        empty = []
        panels, rules = promexpr.dashboard_expressions(DASHBOARD), promexpr.rules(RULES)
        assert len(panels) >= 20 and len(rules) >= 10  # the files were read, not skipped
        for expr in panels:
            answer = prometheus.query(expr)
            assert answer["status"] == "success", (expr, answer)
            if not answer["data"]["result"]:
                empty.append(("panel", expr))
        for rule in rules:
            answer = prometheus.query(rule["expr"])
            assert answer["status"] == "success", (rule, answer)
            if "record" in rule and not answer["data"]["result"]:
                empty.append(("record", rule["record"]))
            # An alert selects nothing while all is well, but every series it reads must exist.
            if "alert" in rule:
                for name in promexpr.metric_names(rule["expr"]):
                    if not prometheus.query(f'count({{__name__="{name}"}})')["data"]["result"]:
                        empty.append(("alert " + rule["alert"], name))
        assert empty == [], f"expressions without data: {empty}"
