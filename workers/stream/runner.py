"""Run the worker: in this process (``newsflow worker``) or as a child process (demo, tests)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from workers.settings import Settings

log = logging.getLogger("newsflow.runner")


def run_worker(settings: Settings) -> None:
    """Run the Faust worker in the foreground until SIGTERM/SIGINT (graceful shutdown)."""
    use_event_loop(settings)
    import faust

    from workers.ops.logs import logging_config
    from workers.stream.app import create_app

    newsflow = create_app(settings)
    worker = faust.Worker(
        newsflow.app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings),
        redirect_stdouts=False,
        quiet=True,
    )
    worker.execute_from_commandline()


def use_event_loop(settings: Settings) -> None:
    """Install the event loop policy ``settings.event_loop`` names (uvloop, or the standard
    library's); the loops created after this (Faust's, its consumer thread's) are of that kind."""
    import asyncio

    if settings.event_loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(None)


def check_worker(settings: Settings) -> list[str]:
    """Build what ``newsflow worker`` builds, without connecting to Kafka; raise if it fails.

    The image build runs this (``newsflow worker --check``) so that a broken install fails the
    build: the same imports and app as :func:`run_worker`, the HTML extractor's readiness, and one
    tagging process started as the worker starts it (model and knowledge base loaded, one warm-up
    batch tagged). Returns what was checked, one line each.
    """
    import asyncio

    use_event_loop(settings)
    import faust

    from workers.ops.logs import logging_config
    from workers.ops.loopmon import running_loop
    from workers.stages.stories_text import native_doc_freq
    from workers.stream.app import create_app, provenance
    from workers.stream.tagpool import TagPool

    newsflow = create_app(settings)
    faust.Worker(newsflow.app, loglevel=settings.log_level,
                 logging_config=logging_config(settings), redirect_stdouts=False, quiet=True)
    done = [f"app {settings.app_id}: {len(newsflow.app.agents)} agents, "
            f"{len(settings.topic_names())} topics, store {settings.store}"]
    try:
        problem = newsflow.cleaner.readiness_problem()
        if problem is not None:
            raise RuntimeError(problem)
        done.append("HTML extractor ready")
        pool = TagPool(settings.model_copy(update={"tag_workers": 1}))
        try:
            asyncio.run(pool.warm_up())
        finally:
            pool.close()
    finally:
        newsflow.close_pool()
        newsflow.cleaner.close()
    done.append(f"event loop {asyncio.run(running_loop())}")
    if settings.story_native:
        if native_doc_freq() is None:
            raise RuntimeError("NEWSFLOW_STORY_NATIVE is true but newsflow_native is not "
                               "installed: run scripts/build-native.sh (needs cargo), or set "
                               "NEWSFLOW_STORY_NATIVE=false for the story stage's Python code")
        done.append("story stage: compiled parts (newsflow_native)")
    else:
        done.append("story stage: Python code (NEWSFLOW_STORY_NATIVE=false)")
    built = provenance(settings)
    done.append(f"tagging process ready: model {settings.spacy_model} "
                f"({built['ner_model']['name']} {built['ner_model']['version']}), "
                f"knowledge base {built['kb_version']}")
    return done


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
            [sys.executable, "-m", "workers.tools.cli", "worker"],
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
