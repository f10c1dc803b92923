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

    try:
        assert use_native(False) is DocFreq
        assert (text._dot, text._normalised, text._ranked) == (
            _py_dot, _py_normalised, _py_ranked)
        assert use_native(True) is native
        assert (text._dot, text._normalised, text._ranked) == (
            newsflow_native.dot, newsflow_native.normalised, newsflow_native.ranked)
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
