"""Train the story model (``workers/data/story_model.json``) on a story-labelled stream.

Pairs come from a teacher-forced online run: articles are decided in file order, each is scored
against the live candidate stories exactly as the stage does it (same index, same online
document frequencies), and then placed in its *gold* story, so that every row is (features of
an article against a story that holds only earlier articles, does the article belong to it).
A logistic regression (L2, Newton steps) is fitted to those rows. The run scores the
``TRAIN_CANDIDATES`` (8) best-ranked stories per article, more than the stage scores
(``StoryConfig.max_candidates``, 4): the lower-ranked ones are more negative rows to learn from.

``python -m workers.tools.evaluation.stories_train FILE [--also FILE2 ...] [--out PATH]`` (files in
``dedup-dev.jsonl`` format; ``story``, else ``cluster``, is the gold story). Each file is its own
stream (its own teacher-forced run); their rows are fitted together. The shipped model is
trained on ``ecb-dev.jsonl`` alone (incidents, twin events of a topic); ``dedup-dev.jsonl`` (BBC
originals on the same beats, each its own story, and their rewrites) as ``--also`` was tried
and not shipped (docs/stories.md, "What did not help").
``... --check`` runs the checks instead: leave-topics-out on FILE (model and threshold chosen on
the odd ECB+ topics, the ``--also`` files always in training, scored on the even topics, and the
other way round), and for each ``--also`` file its halves (trained with one half of its stories,
scored on the other at the threshold the topics check picks on average; docs/stories.md).
``... --loto [--interleave N]`` runs the leave-one-topic-out check instead: each topic scored
by a model trained on all the others, over the whole stream (and the stream with N news-dev
articles mixed in), at five thresholds (docs/stories.md, "Leave one topic out").
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from workers.records import StoryEntity
from workers.settings import Settings
from workers.stages.stories import StoryClusterer, StoryConfig
from workers.stages.stories_score import FEATURES, MODEL_PATH, StoryModel
from workers.tools.evaluation.stories import (
    BACKGROUND_FILE,
    bcubed_sums,
    interleave,
    prf,
    read_stream,
    run,
    score,
    story_articles,
    tag_entities,
)

# stories scored per article in the teacher-forced run (the stage scores 4; docs/stories.md)
TRAIN_CANDIDATES = 8
THRESHOLDS = (0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5)
# thresholds the leave-one-topic-out check scores at (the shipped one, 0.3, and its neighbours)
LOTO_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4)


def pair_rows(rows: Iterable[dict], entities: Mapping[str, tuple[StoryEntity, ...]],
              config: StoryConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and 0/1 labels from a teacher-forced run over ``rows``."""
    blank = StoryModel(tuple(0.0 for _ in FEATURES), 0.0)
    clusterer = StoryClusterer(config or StoryConfig(max_candidates=TRAIN_CANDIDATES), blank,
                               {}, {})
    story_of: dict[str, str] = {}
    x: list[list[float]] = []
    y: list[float] = []
    rows = list(rows)
    for row, article in zip(rows, story_articles(rows, entities), strict=True):
        prepared = clusterer.prepare(article)
        target = story_of.get(row["story"])
        for story, features in clusterer.candidates(prepared, article.time):
            x.append(features)
            y.append(1.0 if story.story_id == target else 0.0)
        home = clusterer.stories.get(target) if target else None
        story_of[row["story"]] = clusterer.place(article, prepared, home, 0.0).story_id
    return np.array(x, dtype=float).reshape(-1, len(FEATURES)), np.array(y)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> StoryModel:
    """L2-regularised logistic regression (bias unpenalised) by Newton's method."""
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + penalty * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return StoryModel(tuple(round(float(v), 5) for v in w[:-1]), round(float(w[-1]), 5))


Rows = tuple[np.ndarray, np.ndarray]


def _stack(parts: Iterable[Rows]) -> Rows:
    parts = list(parts)
    return np.vstack([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def stacked_rows(streams: Iterable[list[dict]], entities: Mapping[str, tuple[StoryEntity, ...]]
                 ) -> Rows:
    """:func:`pair_rows` of each stream (a run of its own), stacked."""
    return _stack(pair_rows(rows, entities) for rows in streams if rows)


def train(paths: list[Path], settings: Settings,
          entities: Mapping[str, tuple[StoryEntity, ...]] | None = None
          ) -> tuple[StoryModel, int, int]:
    """A model trained on the files, each its own stream; (model, rows, positives)."""
    streams = [read_stream(path) for path in paths]
    if entities is None:
        entities = tag_entities([r for rows in streams for r in rows], settings)
    x, y = stacked_rows(streams, entities)
    return fit(x, y), len(y), int(y.sum())


def topic_of(story: str) -> str:
    """The topic of an ECB+ story id (``12_ecbplus`` -> ``12``): both incidents of a topic."""
    return story.split("_")[0]


def _decided(rows: list[dict], entities: Mapping[str, tuple[StoryEntity, ...]],
             model: StoryModel, threshold: float) -> dict[str, str]:
    """Article id -> story id, ``model`` deciding ``rows`` at ``threshold`` from empty state."""
    return run(rows, entities, StoryClusterer(StoryConfig(threshold=threshold), model, {}, {}))


def _bcubed(rows: list[dict], entities: Mapping[str, tuple[StoryEntity, ...]],
            model: StoryModel, threshold: float) -> dict[str, float]:
    """B-cubed P/R/F1 of ``model`` deciding ``rows`` at ``threshold``."""
    system = _decided(rows, entities, model, threshold)
    return {k: float(v) for k, v in score(rows, system)["bcubed"].items()}


def leave_topics_out(path: Path, entities: Mapping[str, tuple[StoryEntity, ...]],
                     grid: Iterable[float] = THRESHOLDS,
                     also: Iterable[list[dict]] = ()) -> list[dict]:
    """Train and pick the threshold on odd topics, score on even ones; and the other way round.

    Topics (not stories) are split, so that both incidents of a pair are on the same side. The
    ``also`` streams are in the training rows of both halves (they are not scored here).
    """
    rows = read_stream(path)
    grid = tuple(grid)
    extra = [pair_rows(stream, entities) for stream in also if stream]  # the same for both halves
    halves = {parity: [r for r in rows if int(topic_of(r["story"])) % 2 == parity]
              for parity in (1, 0)}
    report = []
    for parity, name in ((1, "odd"), (0, "even")):
        tune, held = halves[parity], halves[1 - parity]
        model = fit(*_stack([pair_rows(tune, entities), *extra]))
        tuned = {t: _bcubed(tune, entities, model, t)["f1"] for t in grid}
        best = max(grid, key=lambda t: (tuned[t], -t))
        report.append({"tuned_on": name, "threshold": best, "f1_tuned": round(tuned[best], 4),
                       "f1_held_out": round(_bcubed(held, entities, model, best)["f1"], 4)})
    return report


def leave_one_topic_out(rows: list[dict], entities: Mapping[str, tuple[StoryEntity, ...]],
                        thresholds: Iterable[float] = LOTO_THRESHOLDS,
                        interleaved: list[dict] | None = None) -> dict:
    """Each topic held out in turn: the model is trained on the other topics' teacher-forced
    rows, then decides the whole stream, and only the held-out topic's articles are scored.

    An article's B-cubed precision and recall are taken within its fold's run (so a held-out
    article that joins another topic's story pays for it), and averaged over every article of
    the file, each scored by the one model that never saw its topic. ``interleaved`` (the rows
    mixed with unrelated traffic, as ``eval stories --interleave`` makes them): the folds also
    decide that stream, and its figures are under ``interleaved``. The threshold
    is not tuned here: every threshold in ``thresholds`` is scored, so the curve shows how much
    the choice matters. Per topic, the held-out B-cubed F1 at each threshold.
    """
    thresholds = tuple(thresholds)
    topics = sorted({topic_of(r["story"]) for r in rows}, key=lambda t: (len(t), t))
    streams = {"alone": rows} | ({"interleaved": interleaved} if interleaved else {})
    golds = {name: {r["id"]: r["story"] for r in stream} for name, stream in streams.items()}
    sums = {(name, t): [0.0, 0.0] for name in streams for t in thresholds}
    per_topic: dict[str, dict[str, float]] = {topic: {} for topic in topics}
    for topic in topics:
        model = fit(*pair_rows([r for r in rows if topic_of(r["story"]) != topic], entities))
        held = [r["id"] for r in rows if topic_of(r["story"]) == topic]
        for name, stream in streams.items():
            for t in thresholds:
                p, r = bcubed_sums(golds[name], _decided(stream, entities, model, t), held)
                sums[name, t][0] += p
                sums[name, t][1] += r
                if name == "alone":
                    per_topic[topic][str(t)] = prf(p / len(held), r / len(held))["f1"]
    n = len(rows)
    return {
        "topics": len(topics), "articles": n,
        "held_out": {name: {str(t): prf(sums[name, t][0] / n, sums[name, t][1] / n)
                            for t in thresholds} for name in streams},
        "per_topic_f1": per_topic,
    }


def story_half(story: str) -> int:
    """0 or 1: a fixed split of a file's stories (CRC-32 of the story id)."""
    return zlib.crc32(story.encode()) % 2


def halves_check(main_rows: list[dict], rows: list[dict],
                 entities: Mapping[str, tuple[StoryEntity, ...]], threshold: float) -> list[dict]:
    """For an ``--also`` stream: train on ``main_rows`` with one half of its stories, score the
    other half (B-cubed) at ``threshold``; and the other way round."""
    main = pair_rows(main_rows, entities)  # the same for both halves
    report = []
    for half in (0, 1):
        train_half = [r for r in rows if story_half(r["story"]) == half]
        held = [r for r in rows if story_half(r["story"]) != half]
        model = fit(*_stack([main, pair_rows(train_half, entities)]))
        b3 = _bcubed(held, entities, model, threshold)
        report.append({"trained_with_half": half, "threshold": threshold,
                       "held_out_precision": round(b3["precision"], 4),
                       "held_out_f1": round(b3["f1"], 4)})
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="another labelled stream to train on (repeatable)")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--check", action="store_true",
                        help="only run the checks (leave-topics-out; halves of --also files)")
    parser.add_argument("--loto", action="store_true",
                        help="only run the leave-one-topic-out check on FILE")
    parser.add_argument("--interleave", type=int, default=0, metavar="N",
                        help="with --loto: also score the stream with N news-dev articles")
    args = parser.parse_args(argv)
    paths = [args.file, *args.also]
    if args.loto:
        rows = read_stream(args.file)
        mixed = interleave(rows, args.file.parent / BACKGROUND_FILE, args.interleave) \
            if args.interleave else None
        entities = tag_entities(mixed or rows, Settings())
        print(json.dumps(leave_one_topic_out(rows, entities, interleaved=mixed), indent=1))
        return
    if args.check:
        streams = [read_stream(path) for path in paths]
        entities = tag_entities([r for rows in streams for r in rows], Settings())
        topics = leave_topics_out(args.file, entities, also=streams[1:])
        for line in topics:
            print(json.dumps(line))
        threshold = round(sum(r["threshold"] for r in topics) / len(topics), 4)
        for path, rows in zip(args.also, streams[1:], strict=True):
            for line in halves_check(streams[0], rows, entities, threshold):
                print(json.dumps({"file": path.name, **line}))
        return
    model, n, positives = train(paths, Settings())
    args.out.write_text(model.to_json(trained_on=" + ".join(p.name for p in paths), pairs=n,
                                      positives=positives), encoding="utf-8")
    print(f"{n} pairs ({positives} positive) -> {args.out}")


if __name__ == "__main__":
    main()
