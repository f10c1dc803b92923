"""The real Kafka broker for the integration tests, started once per session by the repo's own
command (``newsflow kafka up``), plus helpers to run a worker and read its outputs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from workers.kafka.io import create_topics, delete_run_topics, make_producer, read_topics
from workers.settings import Settings
from workers.stream.runner import WorkerProcess
from workers.tools.demo import free_port, run_settings, worker_env

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = REPO_ROOT / "var" / "test-logs"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.tools.cli", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="session")
def kafka() -> Iterator[Settings]:
    """A running broker: KAFKA_BOOTSTRAP_SERVERS if set, else the local one (`kafka up`)."""
    settings = Settings()
    if not settings.uses_local_kafka:
        yield settings
        return
    was_running = _cli("kafka", "status").returncode == 0
    up = _cli("kafka", "up")
    if up.returncode != 0:
        pytest.fail(f"`newsflow kafka up` failed:\n{up.stdout}\n{up.stderr}")
    yield settings
    if not was_running:
        down = _cli("kafka", "down")
        assert down.returncode == 0, down.stderr


@pytest.fixture
def run_config(kafka: Settings, request: pytest.FixtureRequest) -> Settings:
    """Settings with topics and a consumer group of this test's own."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = run_settings(
        kafka,
        prefix,
        web_port=free_port(),
        tag_workers=1,
        tag_batch_window=0.2,
        data_dir=REPO_ROOT / "var" / "test" / prefix,
        log_level="INFO",
        library_log_level="INFO",  # Faust's rebalance and recovery steps, for the logs
    )
    asyncio.run(create_topics(settings))
    yield settings
    asyncio.run(delete_run_topics(settings))


@contextmanager
def running_worker(settings: Settings, name: str = "worker") -> Iterator[WorkerProcess]:
    log = LOG_DIR / f"{settings.app_id}-{name}.log"
    worker = WorkerProcess(worker_env(settings), log).start()
    try:
        worker.wait_ready(timeout=240)
        yield worker
    finally:
        code = worker.stop()
        if code not in (0, None, -15):
            print(f"worker exited with {code}; log {log}")


def produce(
    settings: Settings, messages: list[tuple[bytes | None, bytes]], topic: str | None = None
) -> None:
    async def run() -> None:
        producer = make_producer(settings)
        await producer.start()
        try:
            for key, value in messages:
                await producer.send(topic or settings.topic_raw, key=key, value=value)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(run())


def collect(
    settings: Settings,
    topics: list[str],
    expected: int | None = None,
    timeout: float = 300.0,
    idle_timeout: float = 20.0,
    keys: set[str] | None = None,
) -> list:
    """Read ``topics`` until ``expected`` records arrived, or until a record of every id in
    ``keys`` did (a count alone is reached early when replays repeat records), or idle/timeout."""
    waiting = {k.encode() for k in keys} if keys is not None else None

    def done() -> bool:
        if waiting is not None:
            return not waiting
        return expected is not None and len(out) >= expected

    out: list = []

    async def run() -> list:
        deadline = time.monotonic() + timeout
        async for rec in read_topics(
            settings,
            topics,
            deadline=deadline,
            idle_timeout=idle_timeout,
            follow=expected is not None or waiting is not None,
            until=done,
        ):
            out.append(rec)
            if waiting is not None:
                waiting.discard(rec.key or b"")
        return out

    return asyncio.run(run())
