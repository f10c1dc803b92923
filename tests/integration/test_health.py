"""The health endpoints of a real worker: not ready before partitions are assigned and the model
is loaded, ready after; not live while its event loop cannot run, nor while input waits and
nothing is processed."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.accounting import assert_accounted, build_corpus, collect_outputs
from tests.integration.conftest import LOG_DIR, produce
from workers.settings import Settings
from workers.stream.runner import WorkerProcess
from workers.tools.demo import worker_env

pytestmark = pytest.mark.integration


def test_ready_only_after_assignment_and_model_load(run_config: Settings) -> None:
    worker = WorkerProcess(worker_env(run_config), LOG_DIR / f"{run_config.app_id}-health.log")
    worker.start()
    states: list[tuple[int, dict]] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert worker.alive(), f"worker died; see {worker.log_path}"
            try:
                status, body = worker.get("/health/ready", timeout=1)
            except OSError:  # the web server is not up yet
                time.sleep(0.05)
                continue
            state = json.loads(body)
            if not states or states[-1] != (status, state):
                states.append((status, state))
            if status == 200:
                break
            time.sleep(0.05)
        first_status, first = states[0]
        assert first_status == 503, states
        assert not (first["partitions_assigned"] and first["model_loaded"]), states
        last_status, last = states[-1]
        assert last_status == 200, states
        assert last["partitions_assigned"] and last["model_loaded"] and last["ready"]
        # Every not-ready answer says why.
        for status, state in states:
            assert (status == 200) == (
                state["partitions_assigned"] and state["model_loaded"]
                and state.get("broker_reachable", True)
            ), states
        status, body = worker.get("/health/live")
        assert status == 200 and json.loads(body)["live"] is True
    finally:
        worker.stop()
    # NEWSFLOW_EVENT_LOOP's default: the worker's loop is uvloop's
    assert "event loop: uvloop.Loop" in worker.log_path.read_text(encoding="utf-8")


def test_not_live_while_the_event_loop_cannot_run(run_config: Settings) -> None:
    worker = WorkerProcess(worker_env(run_config), LOG_DIR / f"{run_config.app_id}-live.log")
    worker.start()
    try:
        worker.wait_ready(timeout=120)
        assert worker.get("/health/live")[0] == 200
        assert worker.proc is not None
        # Freeze the whole process (its event loop included): a liveness probe with a timeout,
        # as Kubernetes and the Docker HEALTHCHECK use, must fail.
        os.kill(worker.proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(OSError):
                worker.get("/health/live", timeout=2)
        finally:
            os.kill(worker.proc.pid, signal.SIGCONT)
        # Once the loop runs again the worker is live again.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if worker.get("/health/live", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("worker did not become live again after SIGCONT")
    finally:
        worker.stop()


def poll_live(worker: WorkerProcess, want: int, timeout: float) -> dict:
    """Poll /health/live until it answers ``want``; return its body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = worker.get("/health/live", timeout=2)
        if status == want:
            return json.loads(body)
        time.sleep(0.5)
    pytest.fail(f"/health/live did not answer {want} within {timeout:.0f} s: {status} {body!r}")


def tagging_processes(worker: WorkerProcess) -> list[psutil.Process]:
    """The worker's tagging children: forked by its fork server, so its grandchildren."""
    assert worker.proc is not None
    parent = psutil.Process(worker.proc.pid)
    return [p for child in parent.children() for p in child.children()]


def test_not_live_while_input_waits_and_nothing_is_processed(
    run_config: Settings, shared_data: Path
) -> None:
    # The tagging processes are frozen (SIGSTOP), as if stuck in native code: the tag agent
    # waits, articles pile up on articles.unique, the event loop keeps running. Liveness must
    # fail after the stall timeout; once the processes run again the worker catches up.
    settings = run_config.model_copy(update={"stall_timeout": 4.0, "tag_timeout": 600.0})
    corpus = build_corpus(shared_data, 60, copies=0, malformed=[])
    log = LOG_DIR / f"{settings.app_id}-stall.log"
    worker = WorkerProcess(worker_env(settings), log).start()
    try:
        worker.wait_ready(timeout=120)
        assert poll_live(worker, 200, 10)["progress_stalled"] is False
        taggers = tagging_processes(worker)
        assert len(taggers) == settings.tag_workers, taggers
        for proc in taggers:
            proc.suspend()
        try:
            produce(settings, corpus.messages)
            stalled = poll_live(worker, 503, 60)
            assert stalled["progress_stalled"] is True and stalled["pending_input"] > 0, stalled
            assert stalled["loop_stalled_seconds"] < 5, stalled  # the loop itself is fine
        finally:
            for proc in taggers:
                proc.resume()
        assert poll_live(worker, 200, 60)["progress_stalled"] is False
        records = collect_outputs(settings, corpus, timeout=120)
    finally:
        worker.stop()
    assert_accounted(settings, corpus, records)
    lines = [line for line in log.read_text().splitlines() if "no progress for" in line]
    # The log says which agent was stuck: 'tag', or 'tag0', 'tag1', ... with several batches
    # in flight (one name per tag actor).
    assert lines and re.search(r"'tag\d*':", lines[0]), lines
