"""Run the worker: in this process (``newsflow worker``) or as a child process (demo, tests).

Also the two process-level guards the app uses: the broker reachability probe behind
/health/ready and the watchdog that bounds a graceful shutdown (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from workers.settings import Settings

log = logging.getLogger("newsflow.runner")


class RepeatFilter(logging.Filter):
    """Lets one record per logger and message template through every ``seconds``.

    While the broker is away aiokafka logs every failed connection attempt at ERROR, about 90
    lines a second; one a few seconds says the same.
    """

    def __init__(self, seconds: float = 5.0) -> None:
        super().__init__()
        self.seconds = seconds
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -self.seconds) < self.seconds:
            return False
        self._last[key] = now
        return True


def logging_config(settings: Settings) -> dict[str, Any]:
    formatter = (
        "workers.logs.JsonFormatter"
        if settings.log_format == "json"
        else ("workers.logs.ConsoleFormatter")
    )
    # Libraries log at their own level, never below the worker's.
    quiet = max(
        logging.getLevelName(settings.library_log_level), logging.getLevelName(settings.log_level)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": formatter}},
        "filters": {"repeats": {"()": "workers.runner.RepeatFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "stream": "ext://sys.stderr",
            },
            "kafka_client": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "stream": "ext://sys.stderr",
                "filters": ["repeats"],
            },
        },
        "root": {"level": settings.log_level, "handlers": ["stderr"]},
        "loggers": {
            "aiokafka": {"level": quiet, "handlers": ["kafka_client"], "propagate": False},
            "faust": {"level": quiet},
            "mode": {"level": quiet},
            # Faust logs its start-up banner and worker state at INFO through these.
            "faust.worker": {"level": "INFO"},
        },
    }


async def broker_reachable(settings: Settings, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to any bootstrap server opens within ``timeout`` seconds."""
    for address in settings.bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]") or "127.0.0.1", int(port)), timeout
            )
        except (OSError, ValueError, TimeoutError):
            continue
        writer.close()
        return True
    return False


class ShutdownWatchdog:
    """Ends the process if a graceful shutdown takes longer than ``timeout`` seconds.

    Faust waits for in-flight events to be acknowledged and commits before it exits; a stuck
    batch (a wedged tagging child, an unreachable broker) must not hold the process for ever.
    What was not committed is redelivered to the next owner of the partition (at-least-once).
    """

    EXIT_CODE = 75  # EX_TEMPFAIL: stopped, but not cleanly

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        log.error("graceful shutdown took over %.0f s; exiting now", self.timeout)
        logging.shutdown()
        os._exit(self.EXIT_CODE)


def run_worker(settings: Settings) -> None:
    """Run the Faust worker in the foreground until SIGTERM/SIGINT (graceful shutdown)."""
    import faust

    from workers.app import create_app

    newsflow = create_app(settings)
    worker = faust.Worker(
        newsflow.app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings),
        redirect_stdouts=False,
        quiet=True,
    )
    worker.execute_from_commandline()


class WorkerProcess:
    """A worker in a child process, for the demo and the integration tests."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.web_port = int(env.get("NEWSFLOW_WEB_PORT", "6066"))

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"worker exited with code {self.proc.returncode}; see {self.log_path}"
                )
            try:
                status, _ = self.get("/health/ready")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready after {timeout:.0f} s; see {self.log_path}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait for a graceful exit; SIGKILL after ``timeout``. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("worker did not stop within %.0f s; killing it", timeout)
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
