"""How well an article fits a story: pair features and the small logistic model over them.

Features of (article, story), all in [0, 1] (docs/stories.md):

* ``text``: cosine of the article's TF-IDF vector with the story centroid;
* ``ents``: cosine of the salient-entity vectors (salience x IDF);
* per entity group (person, location, organisation): the group's cosine, and whether both
  sides have an entity of the group at all. "Both name a place, and not the same one" is what
  separates two earthquakes or two fires; the model learns how much that weighs;
* ``title``: cosine of the article's title terms with the story's title-term centroid;
* ``num``: cosine of the tokens holding a digit (counts, ages, scores, years), and whether both
  sides have any: reports of one incident repeat its numbers.

The model is a logistic regression whose weights live in ``workers/data/story_model.json``,
written by ``python -m workers.tools.evaluation.stories_train`` (docs/stories.md). The stage
joins the best-scoring live story when its probability reaches ``story_threshold``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from operator import mul
from pathlib import Path

from workers.stages.stories_text import (
    GROUPS,
    Vector,
    as_unit,
    dot,
    native_module,
    normalised_groups,
    unit_groups,
    unit_vector,
    units_compiled,
)

FEATURES = ("text", "ents", *(f"{g}{k}" for g in GROUPS for k in ("cos", "apart")), "title",
            "num", "numapart", "year", "yearapart", "size",
            "member")
DAY = 86_400.0
MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "story_model.json"


def _apart(a: Vector, b: Vector, cos: float) -> float:
    """1.0 when both sides have terms of the kind but share none (a contradiction)."""
    return 1.0 if a and b and cos == 0.0 else 0.0


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a pair, every vector L2-normalised (so that a cosine is a dot product).

    For a story, ``text`` is its normalised centroid and ``members`` its latest articles'
    heaviest terms; an article has no members. Build it with :func:`make_side`.
    """

    text: Vector
    title: Vector
    ents: Vector
    by_group: dict[str, Vector]
    numbers: Vector
    years: Vector
    size: int = 1
    members: tuple[Vector, ...] = ()


def make_side(text: Vector, title: Vector, ents: Vector, groups: dict[int, str],
              numbers: Vector, years: Vector, size: int = 1,
              members: tuple[Vector, ...] = (), unit: bool = False,
              unit_members: bool = False) -> Side:
    """A side from raw vectors; ``unit``: all but the entity groups are already normalised
    (an article's: dicts); ``unit_members``: the members are. Otherwise (a story's) the
    vectors are normalised into :func:`unit_vector`'s form, for scoring only."""
    if unit:
        return Side(text, title, ents, normalised_groups(ents, groups), numbers, years, size,
                    members)
    unit_of = unit_vector
    return Side(unit_of(text), unit_of(title), unit_of(ents), unit_groups(ents, groups),
                unit_of(numbers), unit_of(years), size,
                members if unit_members else tuple(map(unit_of, members)))


def for_scoring(side: Side) -> Side:
    """An article's side with its vectors held as :func:`make_side` holds a story's (compiled
    ``Unit``s when the compiled parts run: cosines between two of them stay in Rust); the
    side itself otherwise."""
    return held_as(side, units=True) if units_compiled() else side


def held_as(side: Side, units: bool) -> Side:
    """``side`` with its vectors as compiled ``Unit``s (``units``; the compiled parts must be
    in use) or as dicts, the same weights either way."""
    return Side(hold(side.text, units), hold(side.title, units), hold(side.ents, units),
                {g: hold(v, units) for g, v in side.by_group.items()},
                hold(side.numbers, units), hold(side.years, units), side.size,
                tuple(hold(m, units) for m in side.members))


def hold(vector: Vector, units: bool) -> Vector:
    """One normalised vector as a compiled ``Unit`` (``units``) or as a dict."""
    if isinstance(vector, dict):
        return as_unit(vector) if units else vector
    return vector if units else vector.to_dict()  # (a Unit: not a dict, whatever the type says)


def features(article: Side, story: Side) -> list[float]:
    """The pair's feature row, in the order of :data:`FEATURES`."""
    row = pair_features(article, story)
    row.append(member_feature(article, story))
    return row


def pair_features(article: Side, story: Side) -> list[float]:
    """The feature row without its last feature, the recent-member cosine."""
    row = [dot(article.text, story.text), dot(article.ents, story.ents)]
    for group in GROUPS:
        a, s = article.by_group[group], story.by_group[group]
        cos = dot(a, s)
        row += [cos, _apart(a, s, cos)]
    row.append(dot(article.title, story.title))
    for a, s in ((article.numbers, story.numbers), (article.years, story.years)):
        cos = dot(a, s)
        row += [cos, _apart(a, s, cos)]
    row.append(min(1.0, math.log(story.size) / _LOG16) if story.size > 1 else 0.0)
    return row


def member_feature(article: Side, story: Side) -> float:
    """The highest cosine of the article with one of the story's recent members."""
    text = article.text
    return max([dot(text, m) for m in story.members], default=0.0)


def scorers(native: bool) -> tuple[Callable[[Side, Side], list[float]],
                                  Callable[[Side, Side], float]]:
    """:func:`pair_features` and :func:`member_feature`, compiled (``newsflow_native``) when
    ``native`` and built: the same floats, from the same operations in the same order."""
    module = native_module() if native else None
    if module is None:
        return pair_features, member_feature
    return module.pair_features, module.member_feature


_LOG16 = math.log(16)
_COSINE_MAX = 1.0 + 1e-9  # a cosine of unit vectors, rounding included, is below this


@dataclass(frozen=True, slots=True)
class StoryModel:
    """Logistic regression over :data:`FEATURES`."""

    weights: tuple[float, ...]
    bias: float

    def probability(self, row: list[float]) -> float:
        z = self.bias + sum(map(mul, self.weights, row))
        return 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0

    def bound(self, row: list[float]) -> float:
        """An upper bound of :meth:`probability` over every last feature (the member cosine)
        in [0, 1], for the row without it; computed the way the probability is (every step of
        that is monotone in the last feature), with the cosine's rounding above 1 covered."""
        last = _COSINE_MAX if self.weights[-1] > 0 else 0.0
        return self.probability([*row, last])

    def to_json(self, **extra: object) -> str:
        return json.dumps({"features": FEATURES, "weights": self.weights, "bias": self.bias,
                           **extra}, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> StoryModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path}: features {data['features']} != {FEATURES}; retrain it")
        return cls(tuple(data["weights"]), float(data["bias"]))


@dataclass(frozen=True, slots=True)
class Prepared:
    """An article's vectors (``Side``), entity groups, the terms it adds to the DF, its text
    vector's entries heaviest first (ties in the vector's order), its entities' names
    (hashed key -> the first canonical name under it), and its side for scoring."""

    side: Side
    groups: dict[int, str]
    terms: tuple[int, ...]
    ranked: list[tuple[int, float]]
    names: dict[int, str]
    scoring: Side  # ``side`` as the features take it (:func:`for_scoring`)


@dataclass(frozen=True, slots=True)
class StoryConfig:
    """Tuning of the clusterer; the first two come from settings, the rest are fixed sizes."""

    threshold: float = 0.12
    quiet_period: float = 3 * DAY  # seconds
    title_weight: int = 2
    centroid_terms: int = 300  # heaviest terms kept of a story's text centroid
    profile_terms: int = 300  # ... of its title, number, year and entity profiles
    index_terms: int = 30
    query_terms: int = 20
    index_entities: int = 10
    max_candidates: int = 4  # stories scored per article, best-ranked by the index first
    max_postings: int = 300
    top_entities: int = 5
    recent_members: int = 8
    member_terms: int = 40
    native: bool = True  # the compiled parts (newsflow_native) when built: stories_text.use_native
