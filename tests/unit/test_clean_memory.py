"""The cleaner's per-source memory is replay-safe: an article processed again after a crash, with
the memory of the first pass retained (it already holds the article and the ones after it), is
cleaned exactly as the first time. All texts are written for this file."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from workers.records import CleanedArticle, RawArticle, Rejected
from workers.settings import Settings
from workers.stages.clean import Cleaner, make_cleaner
from workers.stages.clean_memory import SourceMemory

SENTENCES = [
    "The harbour authority approved a new ferry timetable on {day} after months of talks.",
    "Fishermen at the eastern quay said the change would cost them two hours a day.",
    "A spokesperson for the council, Mira Okafor, said the budget for {day} was already set.",
    "Repairs to the northern breakwater will begin in {month} and last about six weeks.",
    "The ferry operator reported {n} thousand passengers in the first quarter of the year.",
    "Residents of the island asked for an evening service to the mainland hospital.",
    "Engineers found cracks in the pier supports during a routine inspection in {month}.",
    "The regional minister promised a decision on the new terminal before the summer.",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = ["March", "April", "May", "June", "July"]
# lines a source repeats under its stories: no phrase family and no call-to-action word, so
# only the memory can tell that they are junk
SOURCE_LINES = {
    "coastal.example": ["Coverage of the coast continues all week",
                        "Harbour Desk Morning Edition"],
    "island.example": ["More from the island newsroom every evening",
                       "Island Voices Weekly Round"],
}
TITLES = ["Ferry timetable approved", "Quay workers fear longer days", "Breakwater repairs set",
          "Passenger numbers climb", "Hospital service sought", "Pier cracks found"]


def _article(i: int, source: str, rng: random.Random) -> RawArticle:
    body = [s.format(day=rng.choice(DAYS), month=rng.choice(MONTHS), n=rng.randint(10, 90))
            for s in rng.sample(SENTENCES, 4)]
    junk = list(SOURCE_LINES[source])
    if rng.random() < 0.5:
        body.insert(0, junk[1])
    body.append(junk[0])
    if i > 3 and rng.random() < 0.4:  # the headline of an earlier story of the source
        body.append(TITLES[(i - 2) % len(TITLES)])
    return RawArticle(id=f"a{i}", body="\n".join(body), source=source,
                      title=f"{TITLES[i % len(TITLES)]} {i}")


def _stream(n: int, partitions: int, seed: int = 7) -> list[tuple[RawArticle, tuple[int, int]]]:
    """``n`` articles of two sources spread over ``partitions`` partitions, in arrival order."""
    rng = random.Random(seed)
    offsets = [0] * partitions
    out = []
    for i in range(n):
        source = "coastal.example" if rng.random() < 0.6 else "island.example"
        p = rng.randrange(partitions)
        out.append((_article(i, source, rng), (p, offsets[p])))
        offsets[p] += 1
    return out


def _out(result: CleanedArticle | Rejected) -> tuple[object, ...]:
    if isinstance(result, Rejected):
        return ("rejected", result.reason)
    return (result.text, result.title, tuple((r.text, r.reason) for r in result.removed))


@pytest.fixture(scope="module")
def cleaner() -> Iterator[Cleaner]:
    built = make_cleaner(Settings(), memory_store={})
    yield built
    built.close()


def _with_store(base: Cleaner, store: dict[str, bytes], window: int = 2000) -> Cleaner:
    return Cleaner(base.settings, base.rules, base.langid, base.extractor, base.model,
                   SourceMemory(store, window=window))


def test_the_memory_changes_decisions(cleaner: Cleaner) -> None:
    """The sequence below depends on the memory (else the replay tests prove nothing)."""
    stream = _stream(40, 1)
    with_memory = _with_store(cleaner, {})
    remembered = [_out(with_memory.clean(raw, at)) for raw, at in stream]
    plain = _with_store(cleaner, {})
    plain.memory = None
    forgetful = [_out(plain.clean(raw)) for raw, _ in stream]
    assert sum(a != b for a, b in zip(remembered, forgetful, strict=True)) >= 10


def test_the_same_article_later_in_the_stream_is_cleaned_differently(cleaner: Cleaner) -> None:
    """What a position-blind memory did on a replay: the memory holding the article itself and
    the ones after it changes its output. Here as a control: at a later position it does."""
    stream = _stream(40, 1)
    c = _with_store(cleaner, {})
    first = [_out(c.clean(raw, at)) for raw, at in stream]
    later = [_out(c.clean(raw, (0, 1000 + i))) for i, (raw, _) in enumerate(stream[:10])]
    assert later != first[:10]


@pytest.mark.parametrize("crash_at", [5, 17, 39])
def test_replay_with_the_memory_of_the_first_pass_gives_identical_output(
        cleaner: Cleaner, crash_at: int) -> None:
    stream = _stream(40, 1)
    store: dict[str, bytes] = {}
    c = _with_store(cleaner, store)
    first = [_out(c.clean(raw, at)) for raw, at in stream[:crash_at + 1]]
    snapshot = dict(store)
    # the worker died after recording article `crash_at`; offsets were committed up to
    # `committed`, so everything from there is processed again (same offsets, same order) by a
    # new worker whose memory was restored from the changelog
    for committed in (0, max(0, crash_at - 3), crash_at):
        restored = dict(snapshot)
        again = _with_store(cleaner, restored)
        replayed = [_out(again.clean(raw, at)) for raw, at in stream[committed:crash_at + 1]]
        assert replayed == first[committed:], committed
        assert restored == snapshot  # recording the same positions again changed nothing


def test_replay_across_partitions_in_another_interleaving(cleaner: Cleaner) -> None:
    """After a restart the partitions are read in another interleaving; each partition is still
    read in offset order, and the output per article is the same."""
    stream = _stream(60, 3)
    store: dict[str, bytes] = {}
    c = _with_store(cleaner, store)
    first = {raw.id: _out(c.clean(raw, at)) for raw, at in stream}
    by_partition = sorted(stream, key=lambda item: (item[1][0], item[1][1]))  # p0, then p1, ...
    again = _with_store(cleaner, store)
    assert {raw.id: _out(again.clean(raw, at)) for raw, at in by_partition} == first
    fresh = _with_store(cleaner, {})
    assert {raw.id: _out(fresh.clean(raw, at)) for raw, at in reversed(by_partition)
            if at[1] == 0} == {raw.id: first[raw.id] for raw, at in stream if at[1] == 0}


def test_replay_across_generations_within_the_window(cleaner: Cleaner) -> None:
    """With a window of 6 offsets the memory rolls over several generations; a replay up to 6
    offsets behind the furthest recorded one is exact, and old generations are dropped."""
    stream = _stream(40, 1)
    store: dict[str, bytes] = {}
    c = _with_store(cleaner, store, window=6)
    first = [_out(c.clean(raw, at)) for raw, at in stream]
    # offsets 0-39 make generations 0-6; the three newest are kept
    assert {int(k.split(":")[2]) for k in store if k.startswith(("linechunk:", "titlechunk:"))} \
        == {4, 5, 6}
    again = _with_store(cleaner, dict(store), window=6)
    assert [_out(again.clean(raw, at)) for raw, at in stream[34:]] == first[34:]


def test_record_is_idempotent_and_counts_distinct_articles() -> None:
    memory = SourceMemory({}, window=100)
    for offset in (3, 5, 5, 7, 9, 3):
        memory.record("s", ["a line", "a line", f"own {offset}"], ["word"], (0, offset))
    assert [memory.count("s", "a line", (0, o)) for o in (3, 4, 6, 8, 10)] == [0, 1, 2, 3, 3]
    assert memory.count("s", "own 5", (0, 6)) == 1  # recorded twice, one article
    assert memory.count("s", "a line", (1, 10)) == 0  # another partition
    assert memory.title_overlap("s", frozenset({"word", "other"}), (0, 3)) == 0.0
    assert memory.title_overlap("s", frozenset({"word", "other"}), (0, 4)) == 0.5


def test_a_full_generation_admits_no_new_line_and_later_articles_evict_nothing() -> None:
    memory = SourceMemory({}, max_lines=2, window=100)
    memory.record("s", ["one", "two"], [], (0, 1))
    memory.record("s", ["three", "one"], [], (0, 2))
    assert memory.count("s", "three", (0, 3)) == 0  # not admitted
    assert memory.count("s", "one", (0, 3)) == 2
    memory.record("s", ["one"], [], (0, 150))  # generation 1
    assert memory.count("s", "one", (0, 151)) == 3  # 2 in generation 0, 1 in generation 1
    assert memory.count("s", "two", (0, 2)) == 1  # the first generation unchanged for replays


class _Writes(dict):
    """A store that lists the keys written to it (``written``, cleared by the test)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    def __setitem__(self, key: str, value: bytes) -> None:
        self.written.append(key)
        super().__setitem__(key, value)


def test_recording_an_article_rewrites_only_the_chunks_it_changed() -> None:
    store = _Writes()
    memory = SourceMemory(store, window=1000)
    for offset in range(10):  # 10 articles of 30 own lines: 300 lines, chunks 0-4
        memory.record("s", [f"line {offset} {i}" for i in range(30)], [f"t{offset}"],
                      (0, offset))
    assert sorted(k for k in store if k.startswith("linechunk:")) \
        == [f"linechunk:0:0:{c}:s" for c in range(5)]
    store.written.clear()
    memory.record("s", ["line 0 1", "a new line"], ["t10"], (0, 10))
    # the first chunk (line 0 1 gains an offset) and the newest (the new line), one title chunk
    assert sorted(store.written) == ["linechunk:0:0:0:s", "linechunk:0:0:4:s",
                                     "titlechunk:0:0:0:s"]
    assert memory.count("s", "line 0 1", (0, 11)) == 2
    assert memory.count("s", "a new line", (0, 11)) == 1
    assert memory.count("s", "line 9 29", (0, 11)) == 1


def test_a_lost_write_of_the_newest_chunk_is_made_again_by_the_replay() -> None:
    """The worker died after an article whose lines filled one chunk and opened the next, and
    only its first write (the full chunk) reached the changelog: the replay from that article
    writes the next chunk again, the same, and answers as the first pass did."""

    def article(offset: int) -> tuple[list[str], list[str]]:
        return [f"line {offset} {i}" for i in range(30)] + ["shared"], [f"t{offset}"]

    store = _Writes()
    memory = SourceMemory(store, window=1000)
    for offset in range(2):
        memory.record("s", *article(offset), (0, offset))
    before = dict(store)
    store.written.clear()
    memory.record("s", *article(2), (0, 2))  # lines 62-92: fills chunk 0, opens chunk 1
    assert store.written[:2] == ["linechunk:0:0:0:s", "linechunk:0:0:1:s"]
    full = store["linechunk:0:0:0:s"]
    for offset in range(3, 6):
        memory.record("s", *article(offset), (0, offset))
    answers = [memory.count("s", f"line {o} {i}", (0, 6)) for o in range(6) for i in (0, 29)]

    restored = {**before, "linechunk:0:0:0:s": full}
    again = SourceMemory(restored, window=1000)
    for offset in range(2, 6):  # committed up to offset 2: replayed from there
        again.record("s", *article(offset), (0, offset))
    assert restored == dict(store)
    assert [again.count("s", f"line {o} {i}", (0, 6)) for o in range(6) for i in (0, 29)] \
        == answers
