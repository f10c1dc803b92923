"""The compiled document frequencies (``newsflow_native``, built from ``native/``) against the
Python ones: the same counts and the same weights, bit for bit, and so the same decisions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.support import unavailable
from workers.settings import Settings
from workers.stages.stories import make_story_clusterer
from workers.stages.stories_text import DocFreq, Frequencies, doc_freq_class, native_doc_freq
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


def test_doc_freq_class_picks_the_compiled_one_unless_told_not(native: type) -> None:
    assert doc_freq_class(True) is native
    assert doc_freq_class(False) is DocFreq


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
    packed terms and without, decided with each class: every decision and every state value
    written are the same."""
    settings = Settings(story_quiet_period=1.0)
    articles = synthetic(shared_data / "news-dev.jsonl", 3000, step=86_400.0 / 1000)
    packed, _ = with_terms(articles[::2])
    stream = [a for pair in zip(packed, articles[1::2], strict=True) for a in pair]
    runs = []
    for use_native in (True, False):
        stories: dict[str, bytes] = {}
        held: dict[str, bytes] = {}
        clusterer = make_story_clusterer(settings.model_copy(update={"story_native": use_native}),
                                         stories, held)
        assert isinstance(clusterer.df, native if use_native else DocFreq)
        decisions = []
        for k, article in enumerate(stream):
            decisions.append(clusterer.decide(article))
            if k % 250 == 249:
                clusterer.expire(article.time)
        runs.append((decisions, stories, held, dict(clusterer.df.counts), clusterer.df.docs))
    (ours, theirs) = runs
    assert [d.story_id for d in ours[0]] == [d.story_id for d in theirs[0]]
    assert [d.similarity.hex() for d in ours[0]] == [d.similarity.hex() for d in theirs[0]]
    assert ours[1:] == theirs[1:]
    assert len({d.story_id for d in ours[0]}) < len(stream) * 0.6  # stories were joined
