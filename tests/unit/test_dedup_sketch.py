"""Unit tests of dedup's sketches (fingerprints, sampling, packing) and in-memory indexes."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from workers.records import CleanedArticle
from workers.settings import Settings
from workers.stages.dedup import make_deduplicator
from workers.stages.dedup_index import BandIndex, BandKeys, ExpiryQueue
from workers.stages.dedup_sketch import Sketcher, compare, lead_share

WORDS = [
    "council", "harbour", "bridge", "engineers", "corrosion", "steel", "supports", "buses",
    "bicycles", "replacement", "design", "years", "budget", "mayor", "residents", "traffic",
    "ferry", "river", "tunnel", "report", "vote", "spring", "autumn", "workers", "contract",
    "company", "tender", "safety", "inspection", "cost", "million", "delay", "plan", "route",
]


def _text(seed: int, words: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(words))


def _sketcher(max_fingerprints: int = 1024) -> Sketcher:
    return Sketcher(num_perm=64, shingle_size=5, lead_words=60, lead_perm=16,
                    max_fingerprints=max_fingerprints)


@pytest.mark.parametrize(
    "text",
    ["Plain ASCII text, with punctuation!", "Caf\u00e9 \u201cquoted\u201d \u2013 \u00a3300m",
     "Stra\u00dfe Gr\u00fc\u00dfe \u0434\u043e\u043c"],
)
def test_tokens_are_casefolded_word_runs_in_either_path(text: str) -> None:
    expected = re.findall(r"\w+", text.casefold())
    assert [t if isinstance(t, str) else t.decode() for t in _sketcher().tokens(text)] == expected


def test_ascii_and_unicode_spellings_of_a_text_sketch_alike() -> None:
    sketcher = _sketcher()
    plain = sketcher.sketch("The mayor's plan - 300m - was \"approved\" today " + _text(1, 80))
    curly = sketcher.sketch(
        "The mayor\u2019s plan \u2013 \u00a3300m \u2013 was \u201capproved\u201d today "
        + _text(1, 80)
    )
    assert plain is not None and curly is not None
    assert plain.exact == curly.exact
    assert np.array_equal(plain.fingerprints, curly.fingerprints)


def test_compare_measures_jaccard_and_containment() -> None:
    sketcher = _sketcher()
    full = sketcher.sketch(_text(2, 400))
    half = sketcher.sketch(" ".join(_text(2, 400).split()[:200]))
    other = sketcher.sketch(_text(3, 400))
    assert full is not None and half is not None and other is not None
    similar = compare(half, full)
    assert similar.containment == pytest.approx(1.0, abs=0.01)
    assert similar.jaccard == pytest.approx(196 / 396, abs=0.03)
    assert lead_share(half, full, similar.level) == pytest.approx(1.0, abs=0.01)
    assert compare(full, other).containment < 0.05


def test_long_articles_keep_a_nested_sample_and_still_compare() -> None:
    sketcher = _sketcher(max_fingerprints=256)
    long_text = _text(4, 1500)
    long, teaser = sketcher.sketch(long_text), sketcher.sketch(" ".join(long_text.split()[:300]))
    assert long is not None and teaser is not None
    assert long.level >= 2 and len(long.fingerprints) <= 256
    assert teaser.level >= 1
    assert len(long.lead) == len(teaser.lead) == 56  # leads are never sampled
    assert compare(teaser, long).containment > 0.85
    lead = slice(sketcher.num_perm, None)  # band values: whole text, then lead
    assert np.array_equal(sketcher.band_values(long)[lead], sketcher.band_values(teaser)[lead])


def test_pack_round_trip_and_foreign_layouts() -> None:
    sketcher = _sketcher(max_fingerprints=256)
    for text in (_text(5, 100), _text(6, 1500)):
        sketch = sketcher.sketch(text)
        assert sketch is not None
        entry = sketcher.unpack(sketcher.pack(12.5, sketch))
        assert entry.event_time == 12.5 and entry.sketch is not None
        assert entry.sketch.exact == sketch.exact and entry.sketch.level == sketch.level
        assert np.array_equal(entry.sketch.fingerprints, sketch.fingerprints)
        assert np.array_equal(entry.sketch.lead, sketch.lead)
    seen = sketcher.unpack(sketcher.pack(3.0, None))
    assert (seen.event_time, seen.sketch) == (3.0, None)


@pytest.mark.parametrize("rows", [1, 2, 3, 4])
def test_band_keys_depend_on_band_values_and_band_number(rows: int) -> None:
    keys = BandKeys(bands=8, rows=rows, salt=0)
    values = np.arange(8 * rows, dtype=np.uint16)
    same = np.zeros(8 * rows, dtype=np.uint16)
    assert len(set(keys(values))) == 8
    assert len(set(keys(same))) == 8  # equal values in different bands are different keys
    changed = values.copy()
    changed[rows] += 1  # one value of band 1
    assert [a != b for a, b in zip(keys(values), keys(changed), strict=True)] == [
        i == 1 for i in range(8)
    ]
    assert set(keys(values)).isdisjoint(BandKeys(bands=8, rows=rows, salt=1)(values))
    with pytest.raises(ValueError):
        BandKeys(bands=2, rows=5, salt=0)


def test_band_index_add_match_remove() -> None:
    index = BandIndex()
    assert index.add_and_match("a", [1, 2, 3]) == {}
    assert index.add_and_match("b", [3, 4]) == {"a": 1}
    assert index.add_and_match("c", [3, 2]) == {"a": 2, "b": 1}
    assert index.candidates([3]) == {"a", "b", "c"}
    index.remove("b", [3, 4])
    assert index.candidates([3, 4]) == {"a", "c"}
    index.remove("a", [1, 2, 3])
    index.remove("c", [3, 2])
    assert len(index) == 0


def test_expiry_queue_pops_oldest_first() -> None:
    queue = ExpiryQueue()
    queue.rebuild([(5.0, "e"), (1.0, "a"), (3.0, "c")])
    queue.push(2.0, "b")
    assert queue.pop_older_than(3.0) == [(1.0, "a"), (2.0, "b")]
    assert len(queue) == 2


def test_expired_near_duplicates_leave_the_band_index() -> None:
    dedup = make_deduplicator(Settings(), normalise=lambda text: text, state={})
    text = _text(7, 300)
    dedup.check(CleanedArticle(id="a", text=text, ingested_at=0.0))
    near = dedup.check(CleanedArticle(id="b", text=text + " " + _text(8, 30), ingested_at=10.0))
    assert (near.kind, near.duplicate_of) == ("near", "a")
    assert dedup.expire(7 * 86_400.0 + 20.0) == 2
    assert dedup.entries == 0 and dedup.state_bytes == 0
    assert dedup.check(CleanedArticle(id="c", text=text, ingested_at=9e6)).status == "unique"


def test_rebuild_in_batches_gives_the_incremental_buckets() -> None:
    state: dict[str, bytes] = {}
    live = make_deduplicator(Settings(), normalise=lambda text: text, state=state)
    for i in range(30):
        base = _text(100 + i % 10, 150 + 10 * i)
        live.check(CleanedArticle(id=f"a{i}", text=base if i < 10 else f"{base} {_text(i, 20)}"))
    rebuilt = make_deduplicator(Settings(), normalise=lambda text: text, state=state)
    assert rebuilt.entries == live.entries == 30
    normalised = [
        {key: sorted([held] if isinstance(held, str) else held) for key, held in d.items()}
        for d in (live._bands_index._buckets, rebuilt._bands_index._buckets)
    ]
    assert normalised[0] == normalised[1]
