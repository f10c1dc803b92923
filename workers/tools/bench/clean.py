"""``newsflow bench clean``: time the cleaning stage on one core.

Three runs over the same articles from ``news-dev.jsonl`` (read through
``settings.shared_data_dir``):

* ``text``: ``Cleaner.clean`` on the plain-text bodies (2.5 KB on average), with the per-source
  line memory on (one source per run);
* ``text 5 KB``: the same on 5 KB inputs, each made of consecutive bodies cut at a line break
  at 5,120 bytes (the size the target is stated for);
* ``html``: ``Cleaner.clean`` on HTML pages built at benchmark time around each article (header,
  navigation, share bar, aside with other stories, footer with cookie and copyright notices);
  this includes the hand-off to the extraction helper process;
* ``html bare trafilatura``: ``trafilatura.extract`` on the same pages in this process, the
  floor the stage's HTML path is compared with.

The process (and so the helper it spawns) is pinned to one CPU. Reported per run: median and
p99 milliseconds per article, articles per second, and the median normalised to a 5 KB article
(time x 5120 / bytes of the input).
"""

from __future__ import annotations

import html as htmllib
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from workers.records import RawArticle
from workers.settings import Settings
from workers.stages.clean import make_cleaner

_WARMUP = 5


def _page(title: str, body: str, n: int) -> str:
    """A realistic news page around one article (the boilerplate is generic, not copied)."""
    paras = "".join(f"<p>{htmllib.escape(p)}</p>" for p in body.split("\n") if p.strip())
    nav = "".join(f'<li><a href="/{s.lower()}">{s}</a></li>'
                  for s in ("Home", "World", "Business", "Politics", "Tech", "Sport", "Culture"))
    others = "".join(f'<li><a href="/story/{n}-{i}">Other story number {i} in the list</a></li>'
                     for i in range(8))
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{htmllib.escape(title)}"
        " | Example News</title><meta name='author' content='Staff Reporter'>"
        "<meta property='article:published_time' content='2005-02-01T10:00:00Z'>"
        "<script>window.dataLayer=[];function track(){return 1}</script>"
        "<style>body{font-family:sans-serif}</style></head><body>"
        f"<header><div class='logo'>Example News</div><nav><ul>{nav}</ul></nav>"
        "<form><input name='q'><button>Search</button></form></header>"
        "<div class='crumbs'><a href='/'>Home</a> &gt; <a href='/world'>World</a></div>"
        f"<main><article><h1>{htmllib.escape(title)}</h1>"
        "<div class='share'><a>Facebook</a> <a>Twitter</a> <a>Email</a></div>"
        f"<div class='body'>{paras}</div>"
        "<div class='promo'>Sign up for our daily newsletter</div></article>"
        f"<aside><h2>Most read</h2><ol>{others}</ol></aside></main>"
        "<footer><p>We use cookies to improve your experience on our site.</p>"
        "<p>© 2005 Example News. All rights reserved.</p>"
        f"<ul>{nav}</ul></footer></body></html>"
    )


def _time(items: list[Any], fn: Callable[[Any], object], sizes: list[int]) -> dict[str, float]:
    for item in items[:_WARMUP]:
        fn(item)
    times: list[float] = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    ordered = sorted(times)
    per5k = sorted(t * 5120 / max(1, s) for t, s in zip(times, sizes, strict=True))
    return {
        "articles": len(times),
        "median_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        "articles_per_s": len(times) / sum(times),
        "median_ms_per_5kb": statistics.median(per5k) * 1000,
        "mean_kb": sum(sizes) / len(sizes) / 1024,
    }


def _five_kb(bodies: list[str]) -> list[str]:
    """Consecutive bodies joined and cut at a line break at 5,120 bytes, one per body."""
    out = []
    for i in range(len(bodies)):
        text, j = "", i
        while len(text.encode()) < 5120 and j < i + 10:
            text += bodies[j % len(bodies)] + "\n\n"
            j += 1
        cut = text.encode()[:5120].decode("utf-8", errors="ignore")
        out.append(cut[: cut.rfind("\n")] if "\n" in cut else cut)
    return out


def _pin_one_core() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def bench_clean(settings: Settings, limit: int = 500) -> dict:
    """Benchmark text and HTML cleaning next to bare trafilatura; print and return the figures."""
    import trafilatura

    data_dir = Path(settings.shared_data_dir)
    rows = [orjson.loads(line) for line in
            (data_dir / "news-dev.jsonl").read_bytes().splitlines()[:limit]]
    cpu = _pin_one_core()
    # with the per-source memory on (a dict here, a Faust table in the worker): its look-ups
    # and updates are part of the per-article cost
    cleaner = make_cleaner(settings, memory_store={})
    try:
        texts = [RawArticle(id=r["id"], body=r["body"], title=r["title"], source="bench")
                 for r in rows]
        pages = [_page(r["title"], r["body"], n) for n, r in enumerate(rows)]
        html_raw = [RawArticle(id=r.id, body=p, content_type="text/html", source="benchhtml")
                    for r, p in zip(texts, pages, strict=True)]
        text_sizes = [len(r.body.encode()) for r in texts]
        page_sizes = [len(p.encode()) for p in pages]
        five = [RawArticle(id=r["id"], body=b, title=r["title"], source="bench5")
                for r, b in zip(rows, _five_kb([r["body"] for r in rows]), strict=True)]
        results = {
            "text": _time(texts, cleaner.clean, text_sizes),
            "text 5 KB": _time(five, cleaner.clean, [len(r.body.encode()) for r in five]),
            "html": _time(html_raw, cleaner.clean, page_sizes),
            "html bare trafilatura": _time(pages, trafilatura.extract, page_sizes),
        }
    finally:
        cleaner.close()
    out: dict[str, Any] = {"cpu": cpu, "runs": results}
    _print(out)
    return out


def _print(out: dict[str, Any]) -> None:
    table = Table(title=f"cleaning benchmark (pinned to CPU {out['cpu']})")
    for col in ("run", "articles", "mean KB", "median ms", "p99 ms", "articles/s",
                "median ms / 5 KB"):
        table.add_column(col, justify="right" if col != "run" else "left")
    for name, r in out["runs"].items():
        table.add_row(name, str(r["articles"]), f"{r['mean_kb']:.1f}", f"{r['median_ms']:.3f}",
                      f"{r['p99_ms']:.3f}", f"{r['articles_per_s']:.0f}",
                      f"{r['median_ms_per_5kb']:.3f}")
    Console().print(table)


if __name__ == "__main__":
    bench_clean(Settings())
