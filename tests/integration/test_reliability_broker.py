"""The broker restarts mid-stream: the worker reports not ready while it is away, reconnects, and
carries on without crashing or losing a message (same accounting as test_reliability.py).

This test runs its own broker on other ports and in its own folder, so that the session broker
the other tests share is never restarted.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.integration.accounting import assert_accounted, build_corpus, collect_outputs
from tests.integration.conftest import LOG_DIR, REPO_ROOT, produce
from workers.kafka.io import create_topics
from workers.kafka.local import LocalKafka
from workers.settings import Settings
from workers.stream.runner import WorkerProcess
from workers.tools.demo import free_port, run_settings, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def own_broker(kafka: Settings) -> Iterator[LocalKafka]:
    """A second local broker, sharing the session broker's jars (no second download)."""
    shared = LocalKafka(Settings())
    if not kafka.uses_local_kafka or not shared.lib.is_dir():
        pytest.skip("needs the local broker's jars (`newsflow kafka up`), not an external broker")
    home = REPO_ROOT / "var" / "test" / f"kafka-{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_port=free_port(), kafka_controller_port=free_port(), kafka_home=home)
    broker = LocalKafka(settings)
    broker.home.mkdir(parents=True)
    broker.lib.symlink_to(shared.lib, target_is_directory=True)
    broker.up()
    try:
        yield broker
    finally:
        broker.down()
        shutil.rmtree(home, ignore_errors=True)


def test_broker_restart_mid_stream(own_broker: LocalKafka, shared_data: Path) -> None:
    prefix = f"b{uuid.uuid4().hex[:8]}"
    settings = run_settings(
        own_broker.settings,
        prefix,
        web_port=free_port(),
        tag_workers=1,
        tag_batch_window=0.2,
        data_dir=REPO_ROOT / "var" / "test" / prefix,
    )
    asyncio.run(create_topics(settings))
    corpus = build_corpus(shared_data, 500, copies=40, malformed=[b"{not json", b"\xff\xfe"])
    half = len(corpus.messages) // 2
    worker = WorkerProcess(worker_env(settings), LOG_DIR / f"{settings.app_id}-worker.log")
    worker.start().wait_ready(timeout=240)
    try:
        produce(settings, corpus.messages[:half])
        time.sleep(6.0)
        done = len(collect_outputs(settings))
        assert 0 < done < len(corpus.keys), "the outage must land mid-stream"
        own_broker.down()
        states = []
        for _ in range(10):
            time.sleep(1.0)
            status, body = worker.get("/health/ready")
            states.append((status, orjson.loads(body)["broker_reachable"]))
        assert (503, False) in states, states
        assert worker.alive()
        own_broker.up()
        worker.wait_ready(timeout=120)  # reconnected, partitions assigned again
        produce(settings, corpus.messages[half:])
        records = collect_outputs(settings, corpus, timeout=300)
        assert worker.alive(), f"the worker died; see {worker.log_path}"
    finally:
        code = worker.stop(timeout=40)
    assert code == 0
    acc = assert_accounted(settings, corpus, collect_outputs(settings))
    print(f"{len(records)} outputs for {len(corpus.keys)} inputs, {acc.repeated} repeats")
