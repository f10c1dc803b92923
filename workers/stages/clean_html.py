"""Bounded main-text extraction from HTML with trafilatura.

trafilatura (lxml underneath) does the extraction: title, body with one paragraph per line,
author and publish date. Hostile HTML must not stall a worker, so the work is bounded twice:

* size: the page is cut to ``settings.html_max_bytes`` (UTF-8) before parsing;
* time: extraction runs in a helper process that is killed and restarted when it takes longer
  than ``settings.html_timeout`` seconds (a thread cannot be interrupted inside lxml; a signal
  alarm only works on the main thread, and the Faust agent calls the cleaner from an executor).

The helper process is started lazily on the first HTML page (or by :meth:`HtmlExtractor.check`
at start-up) and reused; calls are serialised by a lock, so one cleaner extracts one page at a
time. Before it reports "ready" the helper imports :data:`REQUIRED_MODULES` and extracts a probe
page; when that fails, :class:`ExtractorUnavailable` names the missing module, the failure is
remembered (no respawn per page) and every HTML article is dead-lettered ``extraction_failed``:
never an article with empty text.
"""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

_STARTUP_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Extracted:
    """What trafilatura found on a page (text: one paragraph per line)."""

    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None


class ExtractionError(Exception):
    """The page could not be extracted (timeout, parser failure, nothing found)."""


class ExtractorUnavailable(ExtractionError):
    """The extractor itself cannot run (a missing module): no page can be extracted, so the
    worker is not ready and every HTML article is dead-lettered ``extraction_failed``."""


# Modules the helper process needs; trafilatura imports lxml.html.clean lazily, and with
# lxml >= 5.2 that lives in the separate lxml_html_clean distribution.
REQUIRED_MODULES = ("lxml", "lxml_html_clean", "trafilatura")
_PROBE = ("<html><body><article><h1>Probe</h1><p>The extraction helper started and parsed this "
          "probe page, which has one paragraph of plain text in it.</p></article></body></html>")


def probe_extractor(required: tuple[str, ...] = REQUIRED_MODULES) -> str | None:
    """In this process: None when extraction works, else what is missing or broken (a module
    that cannot be imported is named; a probe page that yields no text is reported)."""
    import importlib

    for name in required:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing = exc.name or name
            return (f"module {missing!r} cannot be imported ({exc}); install it: "
                    f"pip install {missing.replace('_', '-')}")
    try:
        page = extract_in_process(_PROBE)
    except Exception as exc:
        return f"trafilatura fails on a probe page: {type(exc).__name__}: {exc}"[:300]
    if page is None or "probe page" not in page.text:
        return "trafilatura extracts no text from a probe page"
    return None


def extract_in_process(html: str) -> Extracted | None:
    """Run trafilatura on ``html`` in this process; None when it finds no main text."""
    import trafilatura

    doc = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True
    )
    if doc is None or isinstance(doc, dict) or not doc.text:
        return None
    return Extracted(text=doc.text, title=doc.title or None, author=doc.author or None,
                     date=doc.date or None)


def _serve(conn: Connection, required: tuple[str, ...] = REQUIRED_MODULES) -> None:
    """Helper process loop: receive a page, send back ("ok", Extracted|None) or ("error", msg)."""
    # imports trafilatura before "ready", so the first page is not slower
    problem = probe_extractor(required)
    if problem is not None:
        conn.send(("unavailable", problem))
        return
    conn.send(("ready", None))
    while True:
        try:
            html = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", extract_in_process(html))
        except Exception as exc:  # any parser failure is this page's problem, not the worker's
            reply = ("error", f"{type(exc).__name__}: {exc}"[:300])
        conn.send(reply)


class HtmlExtractor:
    """Extracts pages in a helper process with a size cap and a wall-clock limit."""

    def __init__(self, max_bytes: int, timeout: float,
                 required: tuple[str, ...] | None = None) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.required = REQUIRED_MODULES if required is None else required
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._unavailable: str | None = None  # a missing module: not retried until restart

    def cut(self, html: str) -> str:
        """The page cut to ``max_bytes`` of UTF-8 (never splitting a character)."""
        if len(html) * 4 <= self.max_bytes:
            return html
        data = html.encode("utf-8", errors="replace")
        if len(data) <= self.max_bytes:
            return html
        return data[: self.max_bytes].decode("utf-8", errors="ignore")

    def extract(self, html: str) -> Extracted:
        """Extract ``html``; raises :class:`ExtractionError` on timeout, failure or no text."""
        page = self.cut(html)
        with self._lock:
            conn = self._ensure_started()
            try:
                conn.send(page)
                if not conn.poll(self.timeout):
                    self._stop()
                    raise ExtractionError(f"extraction took longer than {self.timeout:g} s")
                status, value = conn.recv()
            except (EOFError, OSError, BrokenPipeError) as exc:
                self._stop()
                raise ExtractionError(f"extraction process died: {exc!r}") from exc
        if status != "ok":
            raise ExtractionError(f"trafilatura failed: {value}")
        if value is None:
            raise ExtractionError("trafilatura found no main text")
        result: Extracted = value
        return result

    def check(self) -> None:
        """Start the helper process now; raises :class:`ExtractorUnavailable` naming the
        missing module when it cannot extract (for start-up and readiness checks)."""
        with self._lock:
            self._ensure_started()

    def close(self) -> None:
        """Stop the helper process (it is restarted on the next page)."""
        with self._lock:
            self._stop()

    def _ensure_started(self) -> Connection:
        if self._unavailable is not None:
            raise ExtractorUnavailable(self._unavailable)
        if self._proc is None or self._conn is None or not self._proc.is_alive():
            self._stop()
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(target=_serve, args=(child, self.required), daemon=True,
                                     name="newsflow-html-extract")
            proc.start()
            child.close()
            self._proc, self._conn = proc, parent
            # start-up (interpreter + trafilatura import) is not the page's time budget
            try:
                status, detail = parent.recv() if parent.poll(_STARTUP_TIMEOUT) else ("", None)
            except (EOFError, OSError):
                status, detail = "", None
            if status != "ready":
                self._stop()
                if status == "unavailable":
                    self._unavailable = str(detail)
                    raise ExtractorUnavailable(self._unavailable)
                raise ExtractorUnavailable("the extraction process did not start")
        return self._conn

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(timeout=5)
        self._proc, self._conn = None, None
