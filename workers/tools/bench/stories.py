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

**Terms extracted beforehand, as in the worker.** The worker's tagging processes extract each
article's terms beside NER and pack them on the message (``Tagged.story_terms``), so the story
agent only unpacks them; the benchmark gives its articles packed terms the same way (that work
is timed apart: ``terms_cpu_ms_per_article``, in the tagging processes). The window-full
articles alternate, a tenth of ``measure`` at a time, between packed terms and none, so that
the rate of a clusterer that extracts the terms itself (``newsflow eval stories`` over a file,
a story agent fed by older tagging processes) is measured beside it:
``full_window_extracting_decisions_per_cpu_s``.

**Compiled parts against Python.** The worker counts document frequencies, weighs the article
vectors and computes its cosines and normalisations with ``newsflow_native`` (Rust, ``native/``)
when it is built; the same decisions as the Python code, bit for bit. A third turn of the
window-full articles runs the Python code on the same state (``StoryClusterer.choose_parts``
between turns, untimed, then a garbage collection, so that the switch's garbage is not collected
inside a timed turn): ``full_window_python_decisions_per_cpu_s``, the code the compiled parts
replace, in the same minutes.

**Real text beside it** (``--real N``, default 2,000; ``--no-real`` skips it): the synthetic
events are not real news. Real articles have ~16 tagged entities each (the synthetic ones 3), and
topical articles of one beat (BBC business, ECB+ twins) give real decisions more candidate
stories (7.9 per decision against 3.0, when up to 8 were scored; 4 now). So the run also
decides the stream that ``newsflow eval stories ecb-dev.jsonl --interleave N`` decides (ECB+ with
N news-dev articles mixed in, entities from the tagging stage, cached in ``--tags`` per NER model
and KB version) and, alternating with it, as many synthetic articles, so that the two rates at
the same window size come from the same minutes of the machine. The real stream is only ~2,400
articles: the window-full rate above is the synthetic one, and real text would run slower.

**The full window with real entity sets** (skipped with ``--no-real`` too): the window-full
rate once more, the synthetic events carrying the tagged entities of the news-dev articles they
are drawn from instead of three made-up names (``tagged_entities_*``), half of them made
event-specific as half of the words are: real text's entity load (~16 per article, common names
shared across articles) at the full window size, which the ~2,400 articles of the real stream
cannot give.

Run: ``python -m workers.tools.bench.stories [--window 100000] [--measure 5000] [--real 2000]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import zlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from workers.records import StoryArticle
from workers.settings import Settings
from workers.stages.stories import StoryClusterer, make_story_clusterer, packed_terms
from workers.stages.stories_text import native_doc_freq
from workers.tools.bench import tag_cache
from workers.tools.evaluation.stories import (
    EntityCache,
    interleave,
    read_stream,
    story_articles,
    tag_entities,
)

_LABELS = ("PERSON", "ORG", "GPE")


def synthetic(path: Path, n: int, step: float, per_event: int = 3,
              seed: int = 0, entities: Mapping[str, tuple] | None = None) -> list[StoryArticle]:
    """``n`` articles, ``per_event`` reports per synthetic event.

    An event takes a real article and gives about half of its words an event-specific suffix
    (so events drawn from the same real article are related, not identical); each report keeps
    a random three quarters of the event's paragraphs. Its entities are three made-up names, or
    with ``entities`` (article id -> tagged entities) the real article's own, about half of them
    made event-specific in the same way (:func:`_marked`); events are then drawn only from the
    articles in it.
    """
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    if entities is not None:
        rows = [row for row in rows if row["id"] in entities]
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
            ents = (_marked(entities[base["id"]], mark, event) if entities is not None else
                    tuple((f"Entity {event} {j}", None, _LABELS[j % 3], 0.3) for j in range(3)))
        keep = [p for p in event_paragraphs if rng.random() < 0.75] or event_paragraphs[:1]
        out.append(StoryArticle(id=f"bench-{i}", text="\n\n".join(keep), title=title,
                                time=1_700_000_000.0 + i * step, source=f"src{i % 20}",
                                entities=ents))
    return out


def _marked(found: tuple, mark: str, event: int) -> tuple:
    """Tagged entities with about half of them made event-specific as the words are (name
    suffixed, QID dropped), so that events drawn from one article share only the other half,
    as related events do, and common names (countries, agencies) stay shared across articles."""
    return tuple((name + mark, None, label, salience)
                 if zlib.crc32(f"{name}{event}".encode()) % 2 else (name, qid, label, salience)
                 for name, qid, label, salience in found)


def with_terms(articles: list[StoryArticle]) -> tuple[list[StoryArticle], float]:
    """``articles`` with their terms packed as the tagging processes pack them, and the CPU
    seconds that took."""
    cpu = time.process_time()
    out = [replace(a, terms=packed_terms(a.title, a.text)) for a in articles]
    return out, time.process_time() - cpu


def _turns(clusterer: StoryClusterer, streams: dict[str, list[StoryArticle]], at: int,
           measure: int, slices: int) -> tuple[dict[str, int], dict[str, float],
                                                dict[str, float]]:
    """Decide ``measure`` articles per mode from position ``at`` on, in ``slices`` turns per
    mode, each mode's from its own stream (``streams``, in turn order; the position moves on
    after every turn); the mode "python" runs the Python code in place of the compiled parts,
    every other mode the parts the settings chose. Articles decided, CPU and wall seconds per
    mode."""
    modes = list(streams)
    native = clusterer.config.native
    wall, cpu_s = dict.fromkeys(modes, 0.0), dict.fromkeys(modes, 0.0)
    decided = dict.fromkeys(modes, 0)
    for k in range(slices):
        n = (k + 1) * measure // slices - k * measure // slices
        for mode in modes:
            chunk = streams[mode][at:at + n]
            at += n
            if "python" in streams:  # the parts this mode runs, on the same state (untimed)
                clusterer.choose_parts(native and mode != "python")
                gc.collect()  # the switch's garbage (converted vectors), not the turn's
            started, cpu = time.perf_counter(), time.process_time()
            for article in chunk:
                clusterer.decide(article)
            wall[mode] += time.perf_counter() - started
            cpu_s[mode] += time.process_time() - cpu
            decided[mode] += len(chunk)
    clusterer.choose_parts(native)  # back to the settings' parts
    return decided, cpu_s, wall


def bench(settings: Settings, window: int, measure: int,
          slices: int = 10) -> dict[str, object]:
    path = settings.shared_data_dir / "news-dev.jsonl"
    quiet = settings.story_quiet_period * 86_400.0
    plain = synthetic(path, window + 3 * measure, step=0.5 * quiet / (window + 3 * measure))
    articles, terms_cpu = with_terms(plain)
    stories: dict[str, bytes] = {}
    held: dict[str, bytes] = {}
    clusterer = make_story_clusterer(settings, stories, held)
    native = native_doc_freq() if settings.story_native else None
    started, cpu = time.perf_counter(), time.process_time()
    new = 0
    for article in articles[:window]:
        new += clusterer.decide(article).is_new_story
    fill, fill_cpu = time.perf_counter() - started, time.process_time() - cpu
    # Window full, in turns of a tenth of ``measure`` each: packed terms (the worker), packed
    # terms with the Python code in place of the compiled parts (when they are built: the same
    # decisions, the code they replace), terms extracted here (eval stories, older taggers).
    modes = ["worker", "extracting"] if native is None else ["worker", "python", "extracting"]
    streams = {mode: plain if mode == "extracting" else articles for mode in modes}
    decided, cpu_s, wall = _turns(clusterer, streams, window, measure, slices)
    state_bytes = sum(len(k) + len(v) for m in (stories, held) for k, v in m.items())
    started, cpu = time.perf_counter(), time.process_time()
    clusterer.rebuild()
    rebuild, rebuild_cpu = time.perf_counter() - started, time.process_time() - cpu
    rate = {mode: round(decided[mode] / cpu_s[mode]) for mode in modes}
    return {
        "window_articles": window,
        "stories": len(stories),
        "words_per_article": round(sum(len(a.text.split()) for a in articles) / len(articles)),
        "new_story_share": round(new / window, 3),
        "compiled_parts": "newsflow_native" if native is not None else "none (Python)",
        "fill_decisions_per_s": round(window / fill),
        "fill_decisions_per_cpu_s": round(window / fill_cpu),
        "full_window_decisions_per_s": round(decided["worker"] / wall["worker"]),
        "full_window_decisions_per_cpu_s": rate["worker"],
        "full_window_python_decisions_per_cpu_s": rate.get("python"),
        "full_window_extracting_decisions_per_cpu_s": rate["extracting"],
        "full_window_decided": decided,
        "terms_cpu_ms_per_article": round(1000 * terms_cpu / len(articles), 3),
        "state_bytes_per_article": round(state_bytes / len(held)),
        "story_bytes_per_story": round(sum(map(len, stories.values())) / len(stories)),
        "rebuild_seconds": round(rebuild, 2),
        "rebuild_cpu_seconds": round(rebuild_cpu, 2),
    }


def real_stream(settings: Settings, background: int, tags: Path | None) -> list[StoryArticle]:
    """The stream of ``newsflow eval stories ecb-dev.jsonl --interleave background``, as the
    eval decides it (same order, clock and tagged entities); entities cached in ``tags``."""
    data = settings.shared_data_dir
    rows = read_stream(data / "ecb-dev.jsonl")
    if background:
        rows = interleave(rows, data / "news-dev.jsonl", background)
    entities: EntityCache | None = tag_cache.load(tags, settings.spacy_model)
    if entities is None or not all(row["id"] in entities for row in rows):  # another stream's
        entities = tag_entities(rows, settings)
        tag_cache.save(tags, settings.spacy_model, entities)
    return story_articles(rows, entities)


def _rate(settings: Settings, articles: list[StoryArticle]) -> float:
    """Decisions per CPU-second of a fresh clusterer over ``articles``, in order."""
    clusterer = make_story_clusterer(settings, {}, {})
    cpu = time.process_time()
    for article in articles:
        clusterer.decide(article)
    return len(articles) / (time.process_time() - cpu)


def bench_real(settings: Settings, background: int, tags: Path | None,
               rounds: int = 3) -> dict[str, float | list[int]]:
    """Real text against synthetic articles at the same window size, alternating rounds, both
    with packed terms (as in the worker); and the real text with the terms extracted here."""
    plain_real = real_stream(settings, background, tags)
    real, _ = with_terms(plain_real)
    quiet = settings.story_quiet_period * 86_400.0
    fake, _ = with_terms(synthetic(settings.shared_data_dir / "news-dev.jsonl", len(real),
                                   step=0.5 * quiet / len(real)))
    real_rates, fake_rates, extracting_rates = [], [], []
    for _ in range(rounds):
        real_rates.append(_rate(settings, real))
        fake_rates.append(_rate(settings, fake))
        extracting_rates.append(_rate(settings, plain_real))
    real_rate, fake_rate = statistics.median(real_rates), statistics.median(fake_rates)
    return {
        "real_articles": len(real),
        "real_entities_per_article": round(statistics.mean(len(a.entities) for a in real), 1),
        "synthetic_entities_per_article": round(
            statistics.mean(len(a.entities) for a in fake), 1),
        "real_decisions_per_cpu_s": round(real_rate),
        "synthetic_same_size_decisions_per_cpu_s": round(fake_rate),
        "real_to_synthetic": round(real_rate / fake_rate, 3),
        "real_extracting_decisions_per_cpu_s": round(statistics.median(extracting_rates)),
        "real_rounds": [round(r) for r in real_rates],
        "synthetic_rounds": [round(r) for r in fake_rates],
    }


def bench_tagged_entities(settings: Settings, window: int, measure: int,
                        tags: Path | None) -> dict[str, float | None]:
    """The window-full rate again, the synthetic events carrying the tagged entities of the
    real articles they are drawn from (~16 per article; half of them made event-specific, as
    half of the words are, the rest shared across articles as real names are) instead of three
    made-up names: the real stream's entity load at the full window size, which no real stream
    here is long enough to give."""
    # the real stream's tagged entities (cached in ``tags``), 2,000 news-dev articles among them
    tagged = {a.id: a.entities for a in real_stream(settings, 2_000, tags)}
    quiet = settings.story_quiet_period * 86_400.0
    compiled = settings.story_native and native_doc_freq() is not None
    # (the first window + measure articles and their clock as before the Python turns came)
    articles, _ = with_terms(synthetic(settings.shared_data_dir / "news-dev.jsonl",
                                       window + (2 if compiled else 1) * measure,
                                       step=0.5 * quiet / (window + measure), entities=tagged))
    clusterer = make_story_clusterer(settings, {}, {})
    cpu = time.process_time()
    for article in articles[:window]:
        clusterer.decide(article)
    fill_cpu = time.process_time() - cpu
    # window full: the compiled parts in turns with the Python code when they are built
    streams = {"worker": articles, **({"python": articles} if compiled else {})}
    decided, cpu_s, _ = _turns(clusterer, streams, window, measure, 10)
    return {
        "tagged_entities_per_article": round(
            statistics.mean(len(a.entities) for a in articles), 1),
        "tagged_entities_fill_decisions_per_cpu_s": round(window / fill_cpu),
        "tagged_entities_full_window_decisions_per_cpu_s": round(
            decided["worker"] / cpu_s["worker"]),
        "tagged_entities_full_window_python_decisions_per_cpu_s": (
            round(decided["python"] / cpu_s["python"]) if compiled else None),
        "tagged_entities_stories": len(clusterer.stories),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=100_000)
    parser.add_argument("--measure", type=int, default=5_000)
    parser.add_argument("--real", type=int, default=2_000, metavar="N",
                        help="news-dev articles interleaved with ECB+ for the real-text rate")
    parser.add_argument("--no-real", action="store_true", help="skip the real-text rate")
    parser.add_argument("--tags", type=Path, default=Path("/tmp/newsflow-bench-story-tags.pickle"),
                        help="cache of the real stream's tagged entities (tagged again when "
                             "the NER model or the knowledge base differ)")
    args = parser.parse_args(argv)
    settings = Settings()
    result: dict[str, object] = {**bench(settings, args.window, args.measure)}
    if not args.no_real:
        result |= bench_real(settings, args.real, args.tags)
        result |= bench_tagged_entities(settings, args.window, args.measure, args.tags)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
