"""The compiled parts of the story stage (``newsflow_native``, built from ``native/``) against the
Python code: the same counts, weights, cosines and normalised vectors, bit for bit, and so the
same decisions."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import workers.stages.stories_text as text
from tests.support import unavailable
from workers.settings import Settings
from workers.stages.stories import make_story_clusterer
from workers.stages.stories_index import CompiledStoryIndex, StoryIndex, story_index
from workers.stages.stories_score import (
    Side,
    make_side,
    member_feature,
    pair_features,
    scorers,
)
from workers.stages.stories_state import Story
from workers.stages.stories_text import (
    DocFreq,
    Frequencies,
    _py_dot,
    _py_normalised,
    _py_ranked,
    native_doc_freq,
    use_native,
)
from workers.tools.bench.stories import synthetic, with_terms


@pytest.fixture(scope="module")
def native() -> type:
    found = native_doc_freq()
    if found is None:  # CI builds it (scripts/setup.sh): there, its absence is a failure
        unavailable("newsflow_native is not installed; run scripts/build-native.sh")
    return found  # type: ignore[return-value]


def _weights(vector: dict[int, float]) -> list[tuple[int, str]]:
    """Terms in order with the exact bits of their weights."""
    return [(term, float.hex(weight)) for term, weight in vector.items()]


def _same(a: Frequencies, b: Frequencies) -> None:
    assert a.docs == b.docs
    assert dict(a.counts) == dict(b.counts)


def test_use_native_picks_the_compiled_parts_unless_told_not(native: type) -> None:
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    def switched() -> tuple[object, ...]:
        return (text._dot, text._normalised, text._ranked, text._top, text._heaviest_by_term,
                text._pack_vectors, text._normalised_groups, text._unpack_parts,
                text._unit_vector, text._as_unit, text._unit_groups)

    try:
        assert use_native(False) is DocFreq
        assert switched() == (
            _py_dot, _py_normalised, _py_ranked, text._py_top, text._py_heaviest_by_term,
            text._py_pack_vectors, text._py_normalised_groups, text._py_unpack_parts,
            _py_normalised, text._py_as_unit, text._py_normalised_groups)
        assert not text.units_compiled()
        assert use_native(True) is native
        n = newsflow_native
        assert switched() == (n.dot, n.normalised, n.ranked, n.top, n.heaviest_by_term,
                              n.pack_vectors, n.normalised_groups, n.unpack_terms, n.unit,
                              n.as_unit, n.unit_groups)
        assert text.units_compiled()
        assert scorers(True) == (n.pair_features, n.member_feature)
        assert scorers(False) == (pair_features, member_feature)
        assert isinstance(story_index(30, 10, 300, True), CompiledStoryIndex)
        assert isinstance(story_index(30, 10, 300, False), StoryIndex)
    finally:
        use_native(True)


def test_sums_as_this_interpreters_sum(native: type) -> None:
    """Python 3.12 made ``sum`` over floats compensated; the module adds as the interpreter
    that imported it does (the bit-for-bit tests below hold it to that)."""
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    assert (sys.version_info >= (3, 12)) == newsflow_native.SUM_COMPENSATED


_OTHER_INTERPRETER_CHECK = """
import math, random, sys
from itertools import repeat
from operator import mul, truediv
sys.path.insert(0, sys.argv[1])
import newsflow_native as n
assert n.SUM_COMPENSATED == (sys.version_info >= (3, 12))
def unit(vector):
    values = list(vector.values())
    norm = math.sqrt(sum(map(mul, values, values)))
    return dict(zip(vector, map(truediv, values, repeat(norm)))) if norm else {}
def dot(a, b):  # workers.stages.stories_text._py_dot
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    shared = list(filter(b.__contains__, a))
    return sum(map(mul, map(a.__getitem__, shared), map(b.__getitem__, shared)))
rng = random.Random(1)
for _ in range(5000):
    a, b = ({t: rng.choice((rng.random(), 1e-9 * rng.random(), 1e6 * rng.random(), -0.25))
             for t in rng.sample(range(400), rng.choice((1, 5, 40, 150)))} for _ in range(2))
    assert n.dot(a, b).hex() == float(dot(a, b)).hex()
    assert [v.hex() for v in n.normalised(a).values()] == [v.hex() for v in unit(a).values()]
print("ok")
"""


def _interpreter(version: str) -> str | None:
    """A working ``python<version>``: on PATH, or one of pyenv's (whose shims fail for a
    version that is installed but not selected)."""
    pyenv = Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")
    found = [shutil.which(f"python{version}"), *map(str, sorted(pyenv))]
    for python in filter(None, found):
        if subprocess.run([python, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return python
    return None


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_other_interpreters_get_their_own_sums(native: type, version: str,
                                              tmp_path: Path) -> None:
    """The module is built once for CPython 3.11 and newer (abi3); 3.12 made ``sum`` over
    floats compensated, so the module must add as the interpreter that loads it does. Run
    under the other interpreters on this machine, when there are any (the project's own
    tests run on one)."""
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no python{version} on this machine")
    shutil.copy(newsflow_native.__file__, tmp_path)
    done = subprocess.run([python, "-c", _OTHER_INTERPRETER_CHECK, str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def _vector(rng: random.Random, vocabulary: list[int], size: int) -> dict[int, float]:
    return {t: rng.choice((rng.random(), rng.random() * 1e-9, 1e6 * rng.random(), 0.5, -0.25))
            for t in rng.sample(vocabulary, size)}


def test_dot_and_normalised_are_bit_for_bit_the_pythons(native: type) -> None:
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    rng = random.Random(11)
    vocabulary = list(range(1, 300)) + [rng.getrandbits(32) for _ in range(300)]
    for _ in range(3000):
        a = _vector(rng, vocabulary, rng.choice((0, 1, 5, 40, 150, 300)))
        b = _vector(rng, vocabulary, rng.choice((0, 1, 5, 40, 150, 300)))
        for x, y in ((a, b), (b, a), (a, a)):
            assert newsflow_native.dot(x, y).hex() == float(_py_dot(x, y)).hex()
        assert _weights(newsflow_native.normalised(a)) == _weights(_py_normalised(a))
    assert newsflow_native.normalised({}) == _py_normalised({}) == {}
    assert newsflow_native.normalised({7: 0.0}) == _py_normalised({7: 0.0}) == {}
    # ties in size: the first vector's order
    assert newsflow_native.dot({1: 0.1, 2: 1e16}, {2: 1.0, 1: 1.0}) == _py_dot(
        {1: 0.1, 2: 1e16}, {2: 1.0, 1: 1.0})


def test_counts_and_weights_are_bit_for_bit_the_pythons(native: type) -> None:
    rng = random.Random(5)
    vocabulary = [rng.getrandbits(32) for _ in range(400)]
    ours, theirs = native(), DocFreq()
    held: list[list[int]] = []
    for step in range(600):
        if held and rng.random() < 0.3:  # an article expires
            gone = held.pop(rng.randrange(len(held)))
            ours.remove(gone)
            theirs.remove(gone)
        else:
            terms = list(dict.fromkeys(rng.choices(vocabulary, k=rng.randint(0, 60))))
            held.append(terms)
            ours.add(terms)
            theirs.add(terms)
        _same(ours, theirs)
        counts: dict[int, int] = {t: rng.choice((1, 1, 2, 3, 7, 5000))  # 5000: past the tables
                                  for t in rng.choices([*vocabulary, 1, 2**32 - 1], k=25)}
        weights = {t: rng.choice((0.05, 0.3, 1.0, 2.5)) for t in rng.sample(vocabulary, 5)}
        for vector in (counts, weights):
            for sublinear in (True, False):
                assert _weights(ours.weigh(vector, sublinear)) == \
                    _weights(theirs.weigh(vector, sublinear)), step
    assert ours.weigh({}) == theirs.weigh({}) == {}


def test_ranked_is_the_pythons_sort_ties_included(native: type) -> None:
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    rng = random.Random(3)
    vocabulary = [rng.getrandbits(32) for _ in range(400)]
    for _ in range(2000):
        size = rng.choice((0, 1, 3, 30, 150, 300))
        # few distinct weights, so that ties are common and their order is tested
        vector = {t: rng.choice((0.1, 0.2, 0.25, rng.random()))
                  for t in rng.sample(vocabulary, size)}
        for k in (None, 0, 1, 10, 30, 400):
            ours, theirs = newsflow_native.ranked(vector, k), _py_ranked(vector, k)
            assert ours == theirs
            assert all(a is b for pair in zip(ours, theirs, strict=True)
                       for a, b in zip(*pair, strict=True))  # the vector's own objects


def test_removing_what_was_never_added_and_emptying(native: type) -> None:
    ours, theirs = native(), DocFreq()
    for df in (ours, theirs):
        df.add([1, 2, 2**32 - 1])
        df.remove([1, 3])
        df.remove([2, 2**32 - 1])
        df.remove([2])  # one more remove than adds: docs stays at 0
    _same(ours, theirs)
    assert ours.docs == 0 and dict(ours.counts) == {}


def test_load_replaces_the_state(native: type) -> None:
    ours = native()
    ours.add([9, 10])
    ours.load({1: 3, 2: 1}, 4)
    assert ours.docs == 4 and dict(ours.counts) == {1: 3, 2: 1}
    theirs = DocFreq()
    theirs.load(dict(ours.counts), ours.docs)
    assert _weights(ours.weigh({1: 1, 5: 2})) == _weights(theirs.weigh({1: 1, 5: 2}))


def test_counts_must_be_numbers(native: type) -> None:
    with pytest.raises(TypeError):
        native().weigh({1: "3"})


def test_a_stream_gets_the_same_decisions_and_state(native: type, shared_data: Path) -> None:
    """3,000 synthetic articles (the story benchmark's, with expiry: a window of ~1,000), with
    packed terms and without, decided with the compiled parts and with the Python code: every
    decision and every state value written are the same."""
    settings = Settings(story_quiet_period=1.0)
    articles = synthetic(shared_data / "news-dev.jsonl", 3000, step=86_400.0 / 1000)
    packed, _ = with_terms(articles[::2])
    stream = [a for pair in zip(packed, articles[1::2], strict=True) for a in pair]
    runs = []
    for compiled in (True, False):
        stories: dict[str, bytes] = {}
        held: dict[str, bytes] = {}
        clusterer = make_story_clusterer(settings.model_copy(update={"story_native": compiled}),
                                         stories, held)
        assert isinstance(clusterer.df, native if compiled else DocFreq)
        decisions = []
        for k, article in enumerate(stream):
            decisions.append(clusterer.decide(article))
            if k % 250 == 249:
                clusterer.expire(article.time)
        runs.append((decisions, stories, held, dict(clusterer.df.counts), clusterer.df.docs))
    use_native(True)
    (ours, theirs) = runs
    assert [d.story_id for d in ours[0]] == [d.story_id for d in theirs[0]]
    assert [d.similarity.hex() for d in ours[0]] == [d.similarity.hex() for d in theirs[0]]
    assert ours[1:] == theirs[1:]
    assert len({d.story_id for d in ours[0]}) < len(stream) * 0.6  # stories were joined


def test_top_heaviest_by_term_and_packing_are_the_pythons(native: type) -> None:
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    rng = random.Random(17)
    vocabulary = [rng.getrandbits(32) for _ in range(500)]
    for _ in range(1500):
        size = rng.choice((0, 1, 3, 30, 150, 300, 460))
        # few distinct weights: ties are common, and broken differently by the two orders
        vector = {t: rng.choice((0.1, 0.2, -0.3, rng.random())) for t in rng.sample(vocabulary,
                                                                                     size)}
        for k in (0, 1, 5, 40, 300):
            ours, theirs = newsflow_native.top(vector, k), text._py_top(vector, k)
            assert list(ours.items()) == list(theirs.items())
            assert newsflow_native.heaviest_by_term(vector, k) == \
                text._py_heaviest_by_term(vector, k)
        vectors = [vector, {t: 1 for t in list(vector)[:3]}, {}, _vector(rng, vocabulary, 40)]
        assert newsflow_native.pack_vectors(vectors) == text._py_pack_vectors(vectors)


def test_normalised_groups_are_the_pythons(native: type) -> None:
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    rng = random.Random(19)
    vocabulary = [rng.getrandbits(32) for _ in range(300)]
    for _ in range(1500):
        vector = _vector(rng, vocabulary, rng.choice((0, 1, 10, 60, 300)))
        groups = {t: rng.choice("PLOX") for t in vector if rng.random() < 0.9}
        ours, theirs = (newsflow_native.normalised_groups(vector, groups),
                        text._py_normalised_groups(vector, groups))
        assert list(ours) == list(theirs) == ["P", "L", "O"]
        assert all(_weights(ours[g]) == _weights(theirs[g]) for g in ours)


def test_unpacking_terms_is_the_pythons(native: type) -> None:
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    rng = random.Random(23)
    for _ in range(500):
        parts = [{rng.getrandbits(32): rng.randint(1, 2**32 - 1)
                  for _ in range(rng.choice((0, 1, 20, 200)))} for _ in range(4)]
        value = text.pack_terms(text.Terms(*parts), 2)
        assert newsflow_native.unpack_terms(value, 2) == text._py_unpack_parts(value, 2)
        assert [list(p.items()) for p in newsflow_native.unpack_terms(value, 2)] == \
            [list(p.items()) for p in parts]  # the same order
        for bad, weight in ((value, 3), (value[:-1], 2), (value + b"\0" * 8, 2),
                            (b"\x55" + value[1:], 2), (value[:10], 2), (b"", 2)):
            assert newsflow_native.unpack_terms(bad, weight) is None
            assert text._py_unpack_parts(bad, weight) is None


def _side(rng: random.Random, vocabulary: list[int], size: int) -> Side:
    def vector() -> dict[int, float]:
        return _vector(rng, vocabulary, rng.choice((0, 0, 1, 4, 40, len(vocabulary))))

    ents = vector()
    groups = {t: rng.choice("PLOX") for t in ents}
    members = tuple(vector() for _ in range(rng.choice((0, 1, 8))))
    return make_side(vector(), vector(), ents, groups, vector(), vector(), size, members)


def _units(side: Side) -> Side:
    """``side`` with every vector a compiled ``Unit`` (as the story sides are held)."""
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    unit = newsflow_native.as_unit
    return Side(unit(side.text), unit(side.title), unit(side.ents),
                {g: unit(v) for g, v in side.by_group.items()}, unit(side.numbers),
                unit(side.years), side.size, tuple(map(unit, side.members)))


def test_pair_and_member_features_are_the_pythons(native: type) -> None:
    """Over dict sides, unit sides and one of each (the article's dicts against a story's
    units, as training scores them), the compiled features are the Python ones'."""
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    use_native(False)  # make_side's story vectors as dicts, the Python code's
    try:
        rng = random.Random(29)
        vocabulary = list(range(60))  # a small vocabulary: sides share terms, or share none
        for k in range(3000):
            article = _side(rng, vocabulary, 1)
            story = _side(rng, vocabulary, rng.choice((1, 2, 3, 15, 16, 17, k + 1)))
            theirs = [float(x).hex() for x in pair_features(article, story)]
            their_member = float(member_feature(article, story)).hex()
            for a, b in ((article, story), (_units(article), _units(story)),
                         (article, _units(story)), (_units(article), story)):
                assert [x.hex() for x in newsflow_native.pair_features(a, b)] == theirs, k
                assert newsflow_native.member_feature(a, b).hex() == their_member
    finally:
        use_native(True)


def test_units_hold_the_normalised_weights(native: type) -> None:
    import newsflow_native  # type: ignore[import-not-found,unused-ignore]

    n = newsflow_native
    rng = random.Random(37)
    vocabulary = [*range(1, 200), 2**32 - 1]
    for _ in range(2000):
        a = _vector(rng, vocabulary, rng.choice((0, 1, 5, 40, 150)))
        b = _vector(rng, vocabulary, rng.choice((0, 1, 5, 40, 150)))
        assert _weights(n.unit(a).to_dict()) == _weights(_py_normalised(a))
        assert len(n.unit(a)) == len(_py_normalised(a))
        assert _weights(n.as_unit(a).to_dict()) == _weights(a)
        ua, ub = _py_normalised(a), _py_normalised(b)
        expected = float(_py_dot(ua, ub)).hex()
        for x, y in ((ua, ub), (n.unit(a), n.unit(b)), (ua, n.unit(b)), (n.unit(a), ub)):
            assert n.dot(x, y).hex() == expected
        groups = {t: rng.choice("PLOX") for t in a}
        assert {g: _weights(v.to_dict()) for g, v in n.unit_groups(a, groups).items()} == \
            {g: _weights(v) for g, v in text._py_normalised_groups(a, groups).items()}
    assert len(n.unit({7: 0.0})) == 0 and not n.unit({})


def test_the_compiled_index_lists_and_ranks_as_the_pythons(native: type) -> None:
    """Random stories listed, re-listed and removed; every look-up returns the same ids in
    the same order (ties in summed weight broken by id), and the postings are the same."""
    rng = random.Random(31)
    vocabulary = [rng.getrandbits(32) for _ in range(120)]
    ours = story_index(6, 3, 5, True)  # terms listed for more than 5 stories are skipped
    theirs = story_index(6, 3, 5, False)
    assert isinstance(ours, CompiledStoryIndex)
    live: dict[str, Story] = {}
    found = skipped = 0
    for step in range(4000):
        roll = rng.random()
        if live and (roll < 0.15 or len(live) > 60):
            story = live.pop(rng.choice(sorted(live)))
            ours.remove(story)
            theirs.remove(story)
        else:
            sid = rng.choice(sorted(live)) if live and roll < 0.5 else f"s-{step:x}"
            story = live.get(sid) or Story(sid, 0.0, 0.0)
            story.centroid = {t: rng.choice((0.1, 0.2, rng.random()))
                              for t in rng.sample(vocabulary, rng.randint(0, 12))}
            story.entities = {t: rng.random() for t in rng.sample(vocabulary, rng.randint(0, 5))}
            live[sid] = story
            heavy = None if rng.random() < 0.5 else text.heaviest(story.centroid, 6)
            ours.update(story, heavy)  # (only the Python index keeps story.indexed)
            theirs.update(story, heavy)
        query = [(t, rng.choice((0.5, 0.25, rng.random()))) for t in rng.choices(vocabulary,
                                                                                 k=15)]
        for limit in (0, 1, 4, 50):
            assert ours.ranked(query, limit) == theirs.ranked(query, limit), step
        found += len(ours.ranked(query, 4))
        postings = ours.postings
        skipped += sum(len(postings.get(t, ())) > 5 for t, _ in query)
        if step % 100 == 0:
            assert postings == theirs.postings
    assert ours.postings == theirs.postings
    assert found > 4000 and skipped > 1000  # look-ups found stories, and skipped common terms


def test_switching_parts_midstream_keeps_the_decisions(native: type, shared_data: Path) -> None:
    """``choose_parts`` moves a live clusterer between the compiled parts and the Python code
    (the benchmark's turns): the decisions are those of a clusterer that never switched."""
    settings = Settings(story_quiet_period=1.0)
    articles, _ = with_terms(synthetic(shared_data / "news-dev.jsonl", 1200,
                                       step=86_400.0 / 400))
    runs = []
    for switching in (False, True):
        clusterer = make_story_clusterer(settings, {}, {})
        decisions = []
        for k, article in enumerate(articles):
            if switching and k % 100 == 0:
                clusterer.choose_parts(k % 200 == 0)
                assert isinstance(clusterer.index, CompiledStoryIndex) == (k % 200 == 0)
            decisions.append(clusterer.decide(article))
            if k % 150 == 149:
                clusterer.expire(article.time)
        runs.append([(d.story_id, d.similarity.hex(), d.story) for d in decisions])
    use_native(True)
    assert runs[0] == runs[1]
