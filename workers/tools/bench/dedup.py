"""``newsflow bench dedup``: throughput of the dedup decision, state size, index rebuild time.

The stream is built from the bodies of ``news-dev.jsonl`` (real news, ~2 KB each): the first
pass as they are, later passes made unique by suffixing every word with the pass number, and
about ``duplicate_share`` of them repeating a first-pass story (exactly, or with a new first
line), so the mix of verdicts resembles a feed's. Measured on one core (this process), best of
three runs:

* decisions per second of ``Deduplicator.check`` (normalise + sketch + lookups + record) with
  the knowledge-base normaliser the pipeline uses (the headline figure) and with the identity
  normaliser, over the same stream. The pre-built stream is frozen out of the garbage
  collector's view first (``gc.freeze``): it is benchmark input, not state the worker holds;
* state bytes per article (keys and values of the state mapping);
* seconds to rebuild the in-memory indexes from a state of ``rebuild_n`` entries (the part of
  recovery after Faust has restored the table from its changelog), and their memory.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable
from typing import Any

import orjson
import psutil
from rich.console import Console
from rich.table import Table

from workers.records import CleanedArticle
from workers.settings import Settings
from workers.stages.dedup import load_normaliser, make_deduplicator

_WORD = re.compile(r"\w+")


def stream(settings: Settings, n: int, duplicate_share: float = 0.3) -> list[CleanedArticle]:
    """A stream of ``n`` articles of which about ``duplicate_share`` repeat an earlier story.

    Rounds after the first make unique articles by suffixing every word with the round number
    (same lengths and token statistics as real news, no shared shingles); the duplicates are
    the round-0 story with a new first line (near) or unchanged (exact).
    """
    path = settings.shared_data_dir / "news-dev.jsonl"
    if not path.is_file():
        raise SystemExit(f"benchmark data not found: {path} (set NEWSFLOW_SHARED_DATA_DIR)")
    bodies = [orjson.loads(line)["body"] for line in path.read_bytes().splitlines() if line]
    out = []
    every = max(1, round(1 / duplicate_share)) if duplicate_share else 0
    for i in range(n):
        body = bodies[i % len(bodies)]
        round_no = i // len(bodies)
        if round_no and every and i % every == 0:
            lead = f"Update {round_no}: the story so far."
            text = body if i % (2 * every) == 0 else f"{lead}\n\n{body}"
        elif round_no:
            text = _WORD.sub(lambda m, r=round_no: f"{m.group(0)}q{r}", body)  # type: ignore[misc]
        else:
            text = body
        out.append(CleanedArticle(id=f"bench/{i}", text=text, ingested_at=1.7e9 + i))
    return out


def _throughput(
    settings: Settings, articles: list[CleanedArticle], normalise: Callable[[str], str] | None,
    repeats: int = 3,
) -> tuple[float, dict[str, int], Any]:
    """Best of ``repeats`` runs (CPU seconds of this process), each with a fresh state."""
    best = 0.0
    for _ in range(repeats):
        state: dict[str, bytes] = {}
        dedup = make_deduplicator(settings, normalise=normalise, state=state)
        kinds: dict[str, int] = {}
        start = time.process_time()
        for article in articles:
            verdict = dedup.check(article)
            key = verdict.kind or "unique"
            kinds[key] = kinds.get(key, 0) + 1
        best = max(best, len(articles) / (time.process_time() - start))
    return best, kinds, (dedup, state)


def bench_dedup(
    settings: Settings, n: int = 20000, duplicate_share: float = 0.3, rebuild_n: int = 100_000
) -> dict[str, Any]:
    """Run the benchmark, print a table and return the figures."""
    articles = stream(settings, n, duplicate_share)
    gc.collect()
    gc.freeze()  # the stream is input: later collections need not walk its articles
    result: dict[str, Any] = {"articles": n}
    kb = load_normaliser()
    if kb is not None:
        result["decisions_per_s_with_kb"] = _throughput(settings, articles, kb)[0]
    rate, kinds, (dedup, _) = _throughput(settings, articles, lambda text: text)
    result.update(
        decisions_per_s=rate,
        verdicts=kinds,
        state_bytes_per_article=dedup.state_bytes / dedup.entries,
    )

    # Recovery: a state of `rebuild_n` distinct entries (as Faust restores it from the changelog),
    # then the in-memory indexes rebuilt from it; their memory is the process RSS growth.
    identity: Callable[[str], str] = lambda text: text  # noqa: E731
    big = _throughput(settings, stream(settings, rebuild_n, duplicate_share), identity, 1)[2][1]
    rebuilt = make_deduplicator(settings, normalise=lambda text: text, state={})
    gc.collect()
    rss = psutil.Process().memory_info().rss
    start = time.perf_counter()
    rebuilt.bind_state(big)
    result["rebuild_s"] = time.perf_counter() - start
    result["rebuild_entries"] = rebuilt.entries
    result["index_bytes_per_article"] = (psutil.Process().memory_info().rss - rss) / len(big)
    result["state_bytes_per_article_rebuild"] = rebuilt.state_bytes / rebuilt.entries
    gc.unfreeze()
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    table = Table(title="dedup benchmark (one core, best of 3 runs)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("articles", str(result["articles"]))
    if "decisions_per_s_with_kb" in result:
        table.add_row("decisions / s (knowledge-base normaliser, as in the pipeline)",
                      f"{result['decisions_per_s_with_kb']:,.0f}")
    table.add_row("decisions / s (identity normaliser)", f"{result['decisions_per_s']:,.0f}")
    table.add_row("verdicts", ", ".join(f"{k} {v}" for k, v in sorted(result["verdicts"].items())))
    table.add_row("state bytes / article", f"{result['state_bytes_per_article']:.1f}")
    table.add_row(f"rebuild index, {result['rebuild_entries']:,} entries",
                  f"{result['rebuild_s']:.2f} s")
    table.add_row("in-memory index bytes / article (RSS growth)",
                  f"{result['index_bytes_per_article']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    bench_dedup(Settings.model_validate({}))
