"""The broker goes away mid-stream for longer than the stall timeout: the worker stays live, reports
not ready while it is away, reconnects by itself and carries on without crashing or losing a
message (same accounting as test_reliability.py).

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


def test_broker_outage_longer_than_the_stall_timeout(
    own_broker: LocalKafka, shared_data: Path
) -> None:
    # The broker is away for longer than the stall timeout (120 s by default, which an outage
    # used to exceed: /health/live failed and an orchestrator restarted a healthy worker).
    # Throughout, the worker must stay live with input waiting and report not ready; when the
    # broker returns it carries on by itself and every input is accounted for.
    prefix = f"b{uuid.uuid4().hex[:8]}"
    settings = run_settings(
        own_broker.settings,
        prefix,
        web_port=free_port(),
        tag_workers=1,
        tag_batch_window=0.2,
        data_dir=REPO_ROOT / "var" / "test" / prefix,
    )
    outage = settings.stall_timeout + 15.0
    asyncio.run(create_topics(settings))
    corpus = build_corpus(shared_data, 500, copies=40, malformed=[b"{not json", b"\xff\xfe"])
    # Most of the corpus before the outage, so that input is still waiting when the broker
    # goes (the worker drains ~30 articles/s on a quiet core: 400 inputs take well over the few
    # seconds until the first output); the broker goes as soon as the first output is out.
    first = len(corpus.messages) * 4 // 5
    worker = WorkerProcess(worker_env(settings), LOG_DIR / f"{settings.app_id}-worker.log")
    worker.start().wait_ready(timeout=240)
    try:
        produce(settings, corpus.messages[:first])
        deadline = time.monotonic() + 60
        started = False
        while not started and time.monotonic() < deadline:
            started = bool(collect_outputs(settings, timeout=2.0))
        assert started, "no output within 60 s of producing"
        own_broker.down()
        down_at = time.monotonic()
        answers = []
        while time.monotonic() - down_at < outage:
            time.sleep(3.0)
            live_status, live = worker.get("/health/live", timeout=4)
            ready_status, ready = worker.get("/health/ready", timeout=4)
            answers.append(
                (
                    round(time.monotonic() - down_at),
                    live_status,
                    orjson.loads(live),
                    ready_status,
                    orjson.loads(ready)["broker_reachable"],
                )
            )
            assert worker.alive(), f"the worker died during the outage; see {worker.log_path}"
        print(f"outage {outage:.0f} s; answers (s, live, body, ready, broker): {answers}")
        assert all(a[1] == 200 for a in answers), [a for a in answers if a[1] != 200]
        assert all(a[3] == 503 and a[4] is False for a in answers[1:]), answers
        # Input was waiting during the outage, so this is the case that used to fail.
        assert max(a[2]["pending_input"] for a in answers) > 0, answers
        assert answers[-1][0] > settings.stall_timeout
        own_broker.up()
        back_at = time.monotonic()
        worker.wait_ready(timeout=120)  # reconnected, partitions assigned again
        print(f"ready again {time.monotonic() - back_at:.1f} s after the broker returned")
        produce(settings, corpus.messages[first:])
        records = collect_outputs(settings, corpus, timeout=300)
        assert worker.alive(), f"the worker died; see {worker.log_path}"
        assert worker.get("/health/live")[0] == 200
    finally:
        code = worker.stop(timeout=40)
    assert code == 0
    acc = assert_accounted(settings, corpus, collect_outputs(settings))
    print(f"{len(records)} outputs for {len(corpus.keys)} inputs, {acc.repeated} repeats")
