"""Knowledge-base costs: load time, memory, and ``canonicalise_text`` time per article.

``python -m workers.tools.bench.kb [news-dev.jsonl]`` loads the packaged knowledge base in a fresh
interpreter-wide state, then times the dedup normaliser over every article (title + body) of the
file, best of three passes, and prints the figures as JSON.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def bench_kb(path: Path) -> dict[str, Any]:
    """Load time (s), RSS growth (MiB), entries, and canonicalise_text us/article on ``path``."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    from workers.kb import KnowledgeBase

    kb = KnowledgeBase.load()
    load_s = time.perf_counter() - started
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with path.open(encoding="utf-8") as handle:
        texts = [f"{row.get('title') or ''}\n\n{row['body']}"
                 for row in map(json.loads, handle)]
    kb.canonicalise_text(texts[0])  # warm the replacement cache path once
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for text in texts:
            kb.canonicalise_text(text)
        best = min(best, time.perf_counter() - started)
    return {"entries": len(kb), "load_s": round(load_s, 3),
            "load_rss_mib": round((rss1 - rss0) / 1024, 1),
            "canonicalise_us_per_article": round(best / len(texts) * 1e6, 1),
            "articles": len(texts)}


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "news-dev.jsonl"
    print(json.dumps(bench_kb(Path(sys.argv[1]) if len(sys.argv) > 1 else default)))
