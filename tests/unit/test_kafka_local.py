"""The local broker's process check: an exited broker that nobody reaped yet counts as stopped."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from workers.kafka.local import running


def test_a_live_process_runs() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert running(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_an_exited_child_is_reaped_and_does_not_run() -> None:
    proc = subprocess.Popen(["true"])
    time.sleep(0.5)  # exited, not waited for: a zombie child
    assert running(proc.pid) is False
    assert not psutil.pid_exists(proc.pid)  # reaped by running(): no zombie left behind


def test_someone_elses_zombie_does_not_run() -> None:
    # The middle process starts `true` and never waits for it: a zombie that is not our child,
    # as a broker is whose starter (the demo, the test session) is still alive.
    middle = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, time; p = subprocess.Popen(['true']); print(p.pid, flush=True); "
         "time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert middle.stdout is not None
        zombie = int(middle.stdout.readline())
        time.sleep(0.5)
        assert running(zombie) is False
    finally:
        middle.kill()
        middle.wait()


def test_no_such_process_does_not_run() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert running(proc.pid) is False
