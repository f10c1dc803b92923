"""Train the story model (``workers/data/story_model.json``) on a story-labelled stream.

Pairs come from a teacher-forced online run: articles are decided in file order, each is scored
against the live candidate stories exactly as the stage does it (same index, same online
document frequencies), and then placed in its *gold* story, so that every row is (features of
an article against a story that holds only earlier articles, does the article belong to it).
A logistic regression (L2, Newton steps) is fitted to those rows. The run scores the
``TRAIN_CANDIDATES`` (8) best-ranked stories per article, more than the stage scores
(``StoryConfig.max_candidates``, 4): the lower-ranked ones are more negative rows to learn from.

``python -m workers.tools.evaluation.stories_train FILE [--out PATH]`` (FILE in ``dedup-dev.jsonl``
format with a ``story`` field; the shipped model is trained on ``ecb-dev.jsonl``).
``... FILE --check`` runs the leave-topics-out check instead: model and threshold chosen on the
odd ECB+ topics and scored on the even ones, and the other way round (docs/stories.md).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from workers.records import StoryEntity
from workers.settings import Settings
from workers.stages.stories import StoryClusterer, StoryConfig
from workers.stages.stories_score import FEATURES, MODEL_PATH, StoryModel
from workers.tools.evaluation.stories import (
    read_stream,
    run,
    score,
    story_articles,
    tag_entities,
)

# stories scored per article in the teacher-forced run (the stage scores 4; docs/stories.md)
TRAIN_CANDIDATES = 8
THRESHOLDS = (0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5)


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


def train(path: Path, settings: Settings, entities: Mapping[str, tuple[StoryEntity, ...]]
          | None = None, keep: Iterable[str] | None = None) -> tuple[StoryModel, int, int]:
    """A model trained on the file (only stories in ``keep`` if given); (model, rows, positives)."""
    rows = read_stream(path)
    if keep is not None:
        wanted = set(keep)
        rows = [r for r in rows if r["story"] in wanted]
    if entities is None:
        entities = tag_entities(rows, settings)
    x, y = pair_rows(rows, entities)
    return fit(x, y), len(y), int(y.sum())


def topic_of(story: str) -> str:
    """The topic of an ECB+ story id (``12_ecbplus`` -> ``12``): both incidents of a topic."""
    return story.split("_")[0]


def _b3(rows: list[dict], entities: Mapping[str, tuple[StoryEntity, ...]], model: StoryModel,
        threshold: float) -> float:
    clusterer = StoryClusterer(StoryConfig(threshold=threshold), model, {}, {})
    return float(score(rows, run(rows, entities, clusterer))["bcubed"]["f1"])


def leave_topics_out(path: Path, entities: Mapping[str, tuple[StoryEntity, ...]],
                     grid: Iterable[float] = THRESHOLDS) -> list[dict]:
    """Train and pick the threshold on odd topics, score on even ones; and the other way round.

    Topics (not stories) are split, so that both incidents of a pair are on the same side.
    """
    rows = read_stream(path)
    grid = tuple(grid)
    halves = {parity: [r for r in rows if int(topic_of(r["story"])) % 2 == parity]
              for parity in (1, 0)}
    report = []
    for parity, name in ((1, "odd"), (0, "even")):
        tune, held = halves[parity], halves[1 - parity]
        x, y = pair_rows(tune, entities)
        model = fit(x, y)
        tuned = {t: _b3(tune, entities, model, t) for t in grid}
        best = max(grid, key=lambda t: (tuned[t], -t))
        report.append({"tuned_on": name, "threshold": best, "f1_tuned": round(tuned[best], 4),
                       "f1_held_out": round(_b3(held, entities, model, best), 4)})
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--check", action="store_true",
                        help="only run the leave-topics-out check (odd/even topics)")
    args = parser.parse_args(argv)
    if args.check:
        entities = tag_entities(read_stream(args.file), Settings())
        for line in leave_topics_out(args.file, entities):
            print(json.dumps(line))
        return
    model, n, positives = train(args.file, Settings())
    args.out.write_text(model.to_json(trained_on=args.file.name, pairs=n, positives=positives),
                        encoding="utf-8")
    print(f"{n} pairs ({positives} positive) -> {args.out}")


if __name__ == "__main__":
    main()
