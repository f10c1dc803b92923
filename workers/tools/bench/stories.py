"""Story clustering benchmark: decision throughput with a full window, state size, rebuild time.

The window is synthesised from ``news-dev.jsonl`` (see :func:`synthetic`): events of three
reports each, built from real articles with about half of their words made event-specific, so
that reports of one event join and events drawn from the same real article are related but
distinct. Entities are three made-up names per event (no tagger in the loop: the benchmark
measures the decision, not NER). The clock advances ``step`` seconds per article so that the
whole window stays inside the quiet period.

Figures: decisions per second (wall clock, and per second of this process's CPU time, which a
shared machine does not inflate) while filling the window and over the last ``measure``
articles (window full), bytes per article of both mappings, and the seconds ``rebuild()`` takes to
reconstruct the in-memory state from them (recovery time from the changelog, minus Kafka).

Run: ``python -m workers.tools.bench.stories [--window 100000] [--measure 5000]``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import zlib
from pathlib import Path

from workers.records import StoryArticle
from workers.settings import Settings
from workers.stages.stories import make_story_clusterer

_LABELS = ("PERSON", "ORG", "GPE")


def synthetic(path: Path, n: int, step: float, per_event: int = 3,
              seed: int = 0) -> list[StoryArticle]:
    """``n`` articles, ``per_event`` reports per synthetic event.

    An event takes a real article and gives about half of its words an event-specific suffix
    (so events drawn from the same real article are related, not identical); each report keeps
    a random three quarters of the event's paragraphs.
    """
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rng = random.Random(seed)
    out: list[StoryArticle] = []
    event_paragraphs: list[str] = []
    title = ""
    ents: tuple = ()
    for i in range(n):
        event = i // per_event
        if i % per_event == 0:
            base = rows[rng.randrange(len(rows))]
            mark = f"q{event:x}"
            marked = " ".join(w + mark if zlib.crc32(f"{w}{event}".encode()) % 2 else w
                              for w in f"{base['title']}\n\n{base['body']}".split(" "))
            title, _, body = marked.partition("\n\n")
            event_paragraphs = [p for p in body.split("\n\n") if p.strip()]
            ents = tuple((f"Entity {event} {j}", None, _LABELS[j % 3], 0.3) for j in range(3))
        keep = [p for p in event_paragraphs if rng.random() < 0.75] or event_paragraphs[:1]
        out.append(StoryArticle(id=f"bench-{i}", text="\n\n".join(keep), title=title,
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
    started, cpu = time.perf_counter(), time.process_time()
    new = 0
    for article in articles[:window]:
        new += clusterer.decide(article).is_new_story
    fill, fill_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    for article in articles[window:]:
        clusterer.decide(article)
    full, full_cpu = time.perf_counter() - started, time.process_time() - cpu
    state_bytes = sum(len(k) + len(v) for m in (stories, held) for k, v in m.items())
    started, cpu = time.perf_counter(), time.process_time()
    clusterer.rebuild()
    rebuild, rebuild_cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "window_articles": window,
        "stories": len(stories),
        "words_per_article": round(sum(len(a.text.split()) for a in articles) / len(articles)),
        "new_story_share": round(new / window, 3),
        "fill_decisions_per_s": round(window / fill),
        "fill_decisions_per_cpu_s": round(window / fill_cpu),
        "full_window_decisions_per_s": round(measure / full),
        "full_window_decisions_per_cpu_s": round(measure / full_cpu),
        "state_bytes_per_article": round(state_bytes / len(held)),
        "story_bytes_per_story": round(sum(map(len, stories.values())) / len(stories)),
        "rebuild_seconds": round(rebuild, 2),
        "rebuild_cpu_seconds": round(rebuild_cpu, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=100_000)
    parser.add_argument("--measure", type=int, default=5_000)
    args = parser.parse_args(argv)
    print(json.dumps(bench(Settings(), args.window, args.measure), indent=2))


if __name__ == "__main__":
    main()
