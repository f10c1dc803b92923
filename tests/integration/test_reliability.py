"""Fault injection on the real broker: kill -9 mid-stream, and a two-worker rebalance.

Afterwards every input is accounted for by a read_committed consumer: it came out at least once
(the worker is at-least-once, docs/reliability.md), in one output topic only, every repeat equal
to the first beyond the volatile fields, and dedup's clusters equal an uninterrupted run's.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.integration.accounting import (
    Corpus,
    assert_accounted,
    build_corpus,
    collect_outputs,
    output_key,
)
from tests.integration.conftest import LOG_DIR, produce
from tests.integration.test_pipeline import malformed_messages
from workers.settings import Settings
from workers.stream.runner import WorkerProcess
from workers.tools.demo import free_port, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Repeated outputs allowed over the kill test's two kill -9 (share of its 5,000 inputs). The
# commit cadence (commit_interval, commit_every) bounds them; docs/reliability.md explains the
# figure per stage. The target is 3 %; the bound leaves room for a kill that lands in a
# tagging batch on a slow shared machine.
MAX_REPEAT_SHARE = 0.05


def malformed(n_each: int) -> list[bytes]:
    return [value for values in malformed_messages(n_each).values() for value in values]


class Feeder(threading.Thread):
    """Produces the corpus in ``chunks`` parts, ``pause`` seconds apart, while faults happen."""

    def __init__(self, settings: Settings, corpus: Corpus, chunks: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.corpus, self.chunks, self.pause = settings, corpus, chunks, pause
        self.error: BaseException | None = None

    def run(self) -> None:
        messages = self.corpus.messages
        size = -(-len(messages) // self.chunks)
        try:
            for start in range(0, len(messages), size):
                produce(self.settings, messages[start : start + size])
                time.sleep(self.pause)
        except BaseException as exc:  # reported by the test
            self.error = exc


def start_worker(settings: Settings, name: str) -> WorkerProcess:
    worker = WorkerProcess(worker_env(settings), LOG_DIR / f"{settings.app_id}-{name}.log")
    try:
        worker.start().wait_ready(timeout=240)
    except BaseException:
        worker.kill()  # not left running behind a failed test
        raise
    return worker


def progress(settings: Settings, corpus: Corpus) -> int:
    """Inputs that came out so far (each counted once, however often it was replayed); while
    outputs still flow, at least what arrived within a few seconds."""
    records = collect_outputs(settings, timeout=4.0)
    return len({output_key(orjson.loads(r.value or b"{}"), corpus.malformed) for r in records})


def ready_state(worker: WorkerProcess) -> dict:
    status, body = worker.get("/health/ready")
    return {"status": status, **orjson.loads(body)}


def assigned_until(workers: list[WorkerProcess], done: Callable[[list[int]], bool],
                   timeout: float = 60.0) -> list[int]:
    """The workers' assigned partition counts, polled until ``done(counts)`` holds (a rebalance
    waits for the tagging batch in flight, seconds on a loaded machine); the last counts when
    ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        counts = [ready_state(w)["assigned_partitions"] for w in workers]
        if done(counts) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def test_kill_9_twice_mid_stream_loses_nothing(run_config: Settings, shared_data: Path) -> None:
    settings = run_config.model_copy(update={"tag_workers": 2, "tag_batch_size": 32})
    corpus = build_corpus(shared_data, 5000, copies=400, malformed=malformed(3))
    seed = int(os.environ.get("NEWSFLOW_FAULT_SEED", time.time()))
    rng = random.Random(seed)
    print(f"fault seed {seed}")
    worker = start_worker(settings, "kill")
    feeder = Feeder(settings, corpus, chunks=10, pause=2.0)
    feeder.start()
    try:
        for kill in range(2):
            time.sleep(rng.uniform(4.0, 12.0))
            done = progress(settings, corpus)
            print(f"kill -9 #{kill + 1} with {done} of {len(corpus.keys)} inputs out")
            assert 0 < done < len(corpus.keys), "the kill must land mid-stream"
            worker.kill()
            worker = start_worker(settings, "kill")
        # Returns once every input is out. 300 s was too short on a 2-core machine shared with
        # other work (load 14): one run stopped the last worker while 1,202 inputs were still
        # to come out, after 5 minutes at about 13 articles/s with no stall or re-read logged.
        records = collect_outputs(settings, corpus, timeout=900)
        started = time.monotonic()
        code = worker.stop(timeout=40)
        print(f"SIGTERM to exit: {time.monotonic() - started:.1f} s, code {code}")
        assert code == 0 and time.monotonic() - started < 30
    finally:
        worker.kill()
        feeder.join(timeout=60)
    assert feeder.error is None, feeder.error
    records = collect_outputs(settings)  # everything, after the worker is gone
    acc = assert_accounted(settings, corpus, records)
    share = acc.repeated / len(corpus.keys)
    # One line per run for scripts/kill-runs.sh (docs/reliability.md has the series).
    print(
        f"KILL-RUN seed={seed} outputs={len(records)} inputs={len(corpus.keys)} "
        f"repeats={acc.repeated} share={share:.2%} commit_interval={settings.commit_interval} "
        f"commit_every={settings.commit_every} tag_batch_size={settings.tag_batch_size}"
    )
    assert share <= MAX_REPEAT_SHARE, f"{acc.repeated} repeats: more than the commit cadence allows"


def test_rebalance_between_two_workers(run_config: Settings, shared_data: Path) -> None:
    corpus = build_corpus(shared_data, 1500, copies=100, malformed=malformed(1))
    settings = run_config.model_copy(update={"tag_batch_size": 32})
    a = start_worker(settings, "a")
    b: WorkerProcess | None = None
    b_settings = settings.model_copy(update={"web_port": free_port()})  # not +1: may be taken
    feeder = Feeder(settings, corpus, chunks=4, pause=2.0)
    try:
        alone = ready_state(a)["assigned_partitions"]
        b = start_worker(b_settings, "b")
        # the second worker's join rebalances the group
        shares = assigned_until([a, b], lambda c: min(c) > 0 and sum(c) == alone)
        assert min(shares) > 0 and sum(shares) == alone, (shares, alone)
        feeder.start()
        time.sleep(5.0)
        done = progress(settings, corpus)
        assert 0 < done < len(corpus.keys)
        stopping = time.monotonic()
        assert b.stop(timeout=40) == 0  # graceful, mid-stream: B hands its partitions to A
        print(f"SIGTERM to exit mid-stream: {time.monotonic() - stopping:.1f} s")
        assert time.monotonic() - stopping < 30
        # A takes B's partitions over (once its tagging batch in flight is done)
        assert assigned_until([a], lambda c: c == [alone]) == [alone]
        time.sleep(5.0)
        b = start_worker(b_settings, "b")  # rebalances back
        assert assigned_until([b], lambda c: c[0] > 0)[0] > 0
        collect_outputs(settings, corpus, timeout=300)
    finally:
        for worker in (a, b):
            if worker is not None:
                worker.stop(timeout=40)
        if feeder.ident is not None:
            feeder.join(timeout=60)
    assert feeder.error is None, feeder.error
    assert_accounted(settings, corpus, collect_outputs(settings))
