"""The tagging process pool: runs ``Tagger.tag_batch`` in worker processes, off the event loop.

Beside the entities, each child extracts every tagged article's story terms (its hashed words,
title words and numbers, ``workers.stages.stories.packed_terms``) and packs them on the
result (``Tagged.story_terms``): that work needs no state, so it runs here, in parallel, rather
than in the story agent, which sees every article on one partition (docs/stories.md).

Not a stage and no Faust: the tag agent awaits :meth:`TagPool.tag`. Each of
``settings.tag_workers`` processes (forkserver context where available, else spawn; never fork,
which would copy the event loop's threads and sockets) builds its :class:`Tagger` once when it
starts, says "ready", then serves batches over a pipe. Records cross the boundary as pickled plain
dataclasses. The parent side of every pipe is driven from a small thread pool, so the event loop
only awaits futures: it never pickles, unpickles or waits on a pipe itself. A batch is split into
contiguous chunks, one per worker, and the results are put back in order. Each chunk goes to the
first process that is free (not to a fixed one), so that with several batches in flight (the tag
agent runs ``tag_in_flight`` of them at once) no process idles while another has a queue.

A child that dies (OOM killer, segfault in a native library) is restarted and the call raises
:class:`TagPoolError` (``retriable``); the agent then retries article by article. So is a child
that gives no answer within ``settings.tag_timeout`` seconds (wedged in a native library, or
stopped): it is killed first, so no article can hold the tag agent for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from workers.errors import NewsflowError
from workers.records import CleanedArticle, Rejected, Tagged
from workers.settings import Settings

TagResult = Tagged | Rejected


class TagPoolError(NewsflowError):
    """A tagging worker process died or failed to start; a retry goes to a fresh process."""

    retriable = True


def _serve(settings: Settings, conn: Connection) -> None:
    """Child process main: build the tagger once, then answer batches until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    from workers.stages.entities import make_tagger

    try:
        tagger = make_tagger(settings)
    except Exception as exc:
        conn.send(("error", f"tagger failed to start: {exc!r}"))
        return
    # One tiny batch first: the model's first call allocates and caches what later calls reuse.
    tagger.tag_batch([CleanedArticle(id="warm-up", title="NATO", text="Jens Stoltenberg spoke.")])
    conn.send(("ready", None))
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        started = time.perf_counter()
        try:
            results, inference = tagger.tag_batch_timed(batch)
            pack_story_terms(batch, results)
        except Exception as exc:  # tag_batch isolates articles; this is a bug, not a message
            conn.send(("error", f"tag_batch failed: {exc!r}"))
            continue
        conn.send(("ok", (results, inference, time.perf_counter() - started)))


def pack_story_terms(articles: Sequence[CleanedArticle], results: Sequence[TagResult]) -> None:
    """Put each tagged article's packed story terms on its result (``Tagged.story_terms``),
    as the pool's processes do after NER."""
    from workers.stages.stories import packed_terms

    for article, result in zip(articles, results, strict=True):
        if isinstance(result, Tagged):
            result.story_terms = packed_terms(article.title, article.text)


class _Worker:
    """The parent's handle on one child process; calls are serialised by a lock."""

    def __init__(self, context: Any, settings: Settings) -> None:
        self._context = context
        self._settings = settings
        self.timeout = settings.tag_timeout
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        self.conn, child = self._context.Pipe()
        self.process = self._context.Process(
            target=_serve, args=(self._settings, child), name="newsflow-tagger", daemon=True
        )
        self.process.start()
        child.close()
        self.ready = False

    def _receive(self) -> tuple[str, Any]:
        try:
            message: tuple[str, Any] = self.conn.recv()
            return message
        except (EOFError, OSError) as exc:
            code = self.process.exitcode
            self._restart()
            raise TagPoolError(f"tagging process died (exit code {code}); restarted it") from exc

    def _wait_ready(self) -> None:
        if not self.ready:
            kind, detail = self._receive()
            if kind != "ready":
                raise TagPoolError(f"{detail}; check NEWSFLOW_SPACY_MODEL and the installed model")
            self.ready = True

    def wait_ready(self) -> None:
        with self._lock:
            self._wait_ready()

    def call(self, batch: Sequence[CleanedArticle]) -> tuple[list[TagResult], float, float]:
        """(results, model seconds, seconds in the child) for one chunk."""
        with self._lock:
            self._wait_ready()
            try:
                self.conn.send(list(batch))
            except (BrokenPipeError, OSError) as exc:
                self._restart()
                raise TagPoolError("tagging process died (broken pipe); restarted it") from exc
            try:
                answered = self.conn.poll(self.timeout)
            except (EOFError, OSError):
                answered = True  # died: _receive restarts it and says so
            if not answered:
                self._restart()
                raise TagPoolError(
                    f"tagging process gave no answer within {self.timeout:g} s "
                    "(NEWSFLOW_TAG_TIMEOUT); killed and restarted it"
                )
            kind, payload = self._receive()
        if kind != "ok":
            raise TagPoolError(str(payload))
        return payload

    def _restart(self) -> None:
        """Replace the child after a failure: SIGKILL (which also ends one that is stopped or
        stuck in native code; a dead one has nothing left to say), then a fresh one."""
        self.process.kill()
        self.process.join(5.0)
        self.conn.close()
        self._start()

    def stop(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        self.conn.close()


class TagPool:
    """``settings.tag_workers`` tagging processes behind an awaitable ``tag``."""

    def __init__(self, settings: Settings) -> None:
        methods = mp.get_all_start_methods()
        context = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if context.get_start_method() == "forkserver":
            # The fork server imports spaCy and the stage once; children fork from it.
            context.set_forkserver_preload(["workers.stages.entities"])
        self.size = max(1, settings.tag_workers)
        self._workers = [_Worker(context, settings) for _ in range(self.size)]
        # Processes free to take a chunk; a call takes one, and puts it back when answered.
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for worker in self._workers:
            self._idle.put(worker)
        # Threads only wait on pipes (and for a free process): enough for the chunks of every
        # batch in flight, so that a chunk never waits for a thread while a process idles.
        self._threads = ThreadPoolExecutor(max_workers=4 * self.size + 4,
                                           thread_name_prefix="tagpool")
        # Seconds spent moving batches to and from the children (pickling, pipes, waiting for
        # a free worker), summed over calls: the cost of the process hand-off.
        self.handoff_seconds = 0.0
        self.batches = 0

    async def warm_up(self) -> None:
        """Wait until every child has loaded its model (the health endpoint waits for this)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._threads, w.wait_ready)
                               for w in self._workers))

    async def tag(self, articles: Sequence[CleanedArticle]) -> tuple[list[TagResult], float]:
        """Tag a batch across the workers: results in order, and model seconds (summed)."""
        if not articles:
            return [], 0.0
        loop = asyncio.get_running_loop()
        chunks = _split(articles, self.size)
        started = time.perf_counter()
        parts = await asyncio.gather(*(
            loop.run_in_executor(self._threads, self._call_free, chunk) for chunk in chunks
        ))
        wall = time.perf_counter() - started
        self.handoff_seconds += max(0.0, wall - max(child for _, _, child in parts))
        self.batches += 1
        results = [result for part, _, _ in parts for result in part]
        return results, sum(inference for _, inference, _ in parts)

    def _call_free(self, chunk: list[CleanedArticle]) -> tuple[list[TagResult], float, float]:
        """Run ``chunk`` on the first free process (blocks this thread until one is free)."""
        worker = self._idle.get()
        if worker is None:  # closed
            self._idle.put(None)
            raise TagPoolError("the tagging pool is closed")
        try:
            return worker.call(chunk)
        finally:
            self._idle.put(worker)

    def pids(self) -> list[int]:
        """Process ids of the live children (for CPU and memory accounting)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def close(self) -> None:
        """Stop the children and the threads; safe to call twice."""
        self._idle.put(None)  # wakes (and fails) calls still waiting for a free process
        for worker in self._workers:
            worker.stop()
        self._workers = []
        self._threads.shutdown(wait=False, cancel_futures=True)


def _split(articles: Sequence[CleanedArticle], parts: int) -> list[list[CleanedArticle]]:
    """Contiguous, nearly equal chunks (at most ``parts``, none empty)."""
    parts = min(parts, len(articles))
    size, extra = divmod(len(articles), parts)
    chunks, position = [], 0
    for i in range(parts):
        end = position + size + (1 if i < extra else 0)
        chunks.append(list(articles[position:end]))
        position = end
    return chunks
