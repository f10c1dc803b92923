"""Story clustering benchmark: decision throughput with a full window, state size, rebuild time.

The window is synthesised from ``news-dev.jsonl``: each synthetic article takes three
paragraphs of different real articles and a unique tag word (so that it is not a copy and forms
or joins stories roughly as real traffic would: most start a story, some join one). Entities are
taken from a small fixed pool per source article (no tagger in the loop: the benchmark measures
the decision, not NER). The clock advances ``step`` seconds per article so that the whole window
stays inside the quiet period.

Figures: decisions per second while filling the window and over the last ``measure`` articles
(window full), bytes per article of both mappings, and the seconds ``rebuild()`` takes to
reconstruct the in-memory state from them (recovery time from the changelog, minus Kafka).

Run: ``python -m workers.tools.bench.stories [--window 100000] [--measure 5000]``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from workers.records import StoryArticle
from workers.settings import Settings
from workers.stages.stories import make_story_clusterer

_LABELS = ("PERSON", "ORG", "GPE")


def synthetic(path: Path, n: int, step: float, seed: int = 0) -> list[StoryArticle]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    paragraphs = [[p for p in r["body"].split("\n\n") if p.strip()] for r in rows]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        picks = [rng.randrange(len(rows)) for _ in range(3)]
        text = "\n\n".join(rng.choice(paragraphs[k]) for k in picks) + f"\n\nTag w{i:07d}."
        ents = tuple((f"Entity {k} {j}", None, _LABELS[j % 3], 0.3) for k in picks[:2]
                     for j in range(2))
        out.append(StoryArticle(id=f"bench-{i}", text=text, title=rows[picks[0]]["title"],
                                time=1_700_000_000.0 + i * step, source=f"src{i % 20}",
                                entities=ents))
    return out


def bench(settings: Settings, window: int, measure: int) -> dict[str, float]:
    path = settings.shared_data_dir / "news-dev.jsonl"
    quiet = settings.story_quiet_period * 86_400.0
    articles = synthetic(path, window + measure, step=0.5 * quiet / (window + measure))
    stories: dict[str, bytes] = {}
    held: dict[str, bytes] = {}
    clusterer = make_story_clusterer(settings, stories, held)
    started = time.perf_counter()
    new = 0
    for article in articles[:window]:
        new += clusterer.decide(article).is_new_story
    fill = time.perf_counter() - started
    started = time.perf_counter()
    for article in articles[window:]:
        clusterer.decide(article)
    full = time.perf_counter() - started
    state_bytes = sum(len(k) + len(v) for m in (stories, held) for k, v in m.items())
    started = time.perf_counter()
    clusterer.rebuild()
    rebuild = time.perf_counter() - started
    return {
        "window_articles": window,
        "stories": len(stories),
        "new_story_share": round(new / window, 3),
        "fill_decisions_per_s": round(window / fill),
        "full_window_decisions_per_s": round(measure / full),
        "state_bytes_per_article": round(state_bytes / len(held)),
        "story_bytes_per_story": round(sum(map(len, stories.values())) / len(stories)),
        "rebuild_seconds": round(rebuild, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=100_000)
    parser.add_argument("--measure", type=int, default=5_000)
    args = parser.parse_args(argv)
    print(json.dumps(bench(Settings(), args.window, args.measure), indent=2))


if __name__ == "__main__":
    main()
