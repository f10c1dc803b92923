"""Agent wiring with Faust's ``test_context()``: no broker; the real cleaning and dedup stages, a
recording sink in place of the output topics and a fake tagging pool in place of spaCy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import faust.streams
import orjson
import pytest

from workers.codec import Codec
from workers.ops.metrics import Metrics
from workers.records import CleanedArticle, Entity, Mention, Rejected, Tagged
from workers.settings import Settings
from workers.stages.stories import packed_terms
from workers.stream.agents import Source
from workers.stream.app import Newsflow, create_app


@asynccontextmanager
async def feeding(newsflow: Newsflow, name: str) -> AsyncIterator[Any]:
    """The agent's ``test_context()``; on leaving it, wait until every event put was handled
    and its outputs delivered (the worker's progress count says so). The agents take their
    events in batches, so ``put`` returns once its event is in the batch, not once handled."""
    before = newsflow.progress.events
    async with newsflow.agents[name].test_context() as agent:
        yield agent
        deadline = time.monotonic() + 10.0
        while newsflow.progress.events - before < agent.sent_offset:
            assert time.monotonic() < deadline, f"{name}: events put but not handled in 10 s"
            await asyncio.sleep(0.01)


class FakePool:
    """Tags every capitalised word 'Acme' as an ORG; fails on articles whose id says so."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    async def tag(self, articles: Sequence[CleanedArticle]):  # type: ignore[no-untyped-def]
        self.batches.append(len(articles))
        out: list[tuple[Entity, ...] | Rejected] = []
        for article in articles:
            if "poison" in article.id:
                out.append(Rejected("processing_error", "model blew up", article.id))
                continue
            start = article.text.find("Acme")
            mentions = (Mention("Acme", start, start + 4),) if start >= 0 else ()
            # packed story terms beside the entities, as the real pool's processes add them
            out.append(Tagged((Entity("Acme", "ORG", None, mentions, 1.0),) if mentions else (),
                              story_terms=packed_terms(article.title, article.text)))
        return out, 0.01


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def __call__(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def on(self, topic: str) -> list[dict]:
        return [orjson.loads(v) for t, _, v in self.sent if t == topic]


@pytest.fixture
def wired() -> tuple[Newsflow, Recorder, FakePool]:
    recorder, pool = Recorder(), FakePool()
    # One tag actor: Faust's test wrapper hands every actor the same stream, so with several
    # each would see every message (on a topic they share one queue; the bench and the
    # integration tests run the default concurrency against the broker).
    # A stage batch waits up to 0.2 s for more events: puts without waiting land in one batch.
    settings = Settings(app_id="agents-test", tag_batch_size=4, tag_batch_window=0.05,
                        tag_in_flight=1, stage_batch_window=0.2)
    newsflow = create_app(
        settings,
        metrics=Metrics(),
        tag_pool=pool,
        sink=recorder,
        dedup_state={},
        story_state=({}, {}, {}),
        clean_state={},
    )
    newsflow.app.finalize()
    newsflow.app.conf.store = "memory://"
    return newsflow, recorder, pool


ARTICLE = (
    "Acme Corporation said on Tuesday that it would open a new factory in the north of the "
    "country, creating several hundred jobs over the next two years.\n\n"
    "The company's chief executive told reporters the decision followed months of talks with "
    "local officials about planning permission and road access to the site."
)


def raw(aid: str, body: str = ARTICLE, **extra: object) -> bytes:
    return orjson.dumps({"id": aid, "body": body, "title": "Acme opens factory", **extra})


async def test_clean_agent_routes_good_and_bad_messages(wired) -> None:  # type: ignore[no-untyped-def]
    newsflow, recorder, _ = wired
    async with feeding(newsflow, "clean") as agent:
        await agent.put(raw("a1"), key=b"a1")
        await agent.put(b"{not json", key=None)
        await agent.put(b"\xff\xfe", key=None)
        await agent.put(raw("a2", body="   \n  "), key=b"a2")
    cleaned = recorder.on("cleaned")
    assert [d["id"] for d in cleaned] == ["a1"]
    assert Codec().errors("cleaned", cleaned[0]) == []
    assert "Acme Corporation" in cleaned[0]["text"]
    reasons = [d["reason"] for d in recorder.on("deadletter")]
    assert reasons == ["invalid_json", "invalid_utf8", "empty_after_cleaning"]
    assert all(Codec().errors("deadletter", d) == [] for d in recorder.on("deadletter"))


async def test_clean_agent_takes_batches_each_event_current_in_turn(wired, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The agent takes several events at once and waits for delivery once; while it handles an
    # event, that event is Faust's current one, so a table write goes to its partition.
    newsflow, _, _ = wired
    seen: list[tuple[str, int, int | None]] = []
    deliveries: list[int] = []

    async def on_raw(value, src):  # type: ignore[no-untyped-def]
        seen.append((orjson.loads(value)["id"], src.partition,
                     faust.streams.current_event().message.partition))
        return "cleaned"

    async def delivered(flush: bool = False) -> None:
        deliveries.append(len(seen))

    monkeypatch.setattr(newsflow.handlers, "on_raw", on_raw)
    monkeypatch.setattr(newsflow, "_delivered", delivered)
    async with feeding(newsflow, "clean") as agent:
        for i in range(6):
            await agent.put(raw(f"p{i}"), key=f"p{i}".encode(), partition=i % 3, wait=False)
    assert [aid for aid, _, _ in seen] == [f"p{i}" for i in range(6)]  # in order
    assert [(src, cur) for _, src, cur in seen] == [(i % 3, i % 3) for i in range(6)]
    assert deliveries[-1] == 6 and len(deliveries) < 6  # some waits covered several events


async def test_an_idle_agent_does_not_wake_up(wired, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Faust's take_events waited with the batch window as a timeout over and over: an agent
    # with nothing to do woke every window (100 times a second at the default 10 ms). The
    # agents' batches wait without a timer until an event comes.
    newsflow, recorder, _ = wired
    waits = 0
    original = faust.streams.Stream.wait_for_stopped

    async def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal waits
        waits += 1
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(faust.streams.Stream, "wait_for_stopped", counted)
    async with feeding(newsflow, "clean") as agent:
        await agent.put(raw("i1"), key=b"i1")
        await asyncio.sleep(0.3)  # the batch is handled; the agent waits for the next event
        before = waits
        await asyncio.sleep(1.0)  # five batch windows (0.2 s) with nothing to take
        idle_waits = waits - before
        await agent.put(raw("i2"), key=b"i2")
    assert idle_waits == 0
    assert [d["id"] for d in recorder.on("cleaned")] == ["i1", "i2"]  # and it still wakes up


async def test_clean_agent_survives_a_stage_exception(wired, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    newsflow, recorder, _ = wired

    def explode(raw, *rest):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug in a rule")

    monkeypatch.setattr(newsflow.cleaner, "clean_with_report", explode)
    async with feeding(newsflow, "clean") as agent:
        await agent.put(raw("b1"), key=b"b1")
        await agent.put(raw("b2"), key=b"b2")
    letters = recorder.on("deadletter")
    assert [(d["id"], d["reason"]) for d in letters] == [
        ("b1", "processing_error"),
        ("b2", "processing_error"),
    ]
    assert "bug in a rule" in letters[0]["error"]


async def test_dedup_agent_sends_copies_to_duplicates(wired) -> None:  # type: ignore[no-untyped-def]
    newsflow, recorder, _ = wired
    async with feeding(newsflow, "clean") as agent:
        for aid in ("c1", "c2", "c1"):
            await agent.put(raw(aid), key=aid.encode())
        # The same id again with other content: a redelivery, not a replay.
        await agent.put(raw("c1", body=ARTICLE + " A later paragraph."), key=b"c1")
    cleaned = [v for t, _, v in recorder.sent if t == "cleaned"]
    async with feeding(newsflow, "dedup") as agent:
        for value in cleaned:
            await agent.put(value)
    unique = recorder.on("unique")
    dups = recorder.on("duplicates")
    # The producer sent c1 twice (same id, same content, two raw records): the second gets the
    # first verdict again, so it still reaches enrichment. (A crash replay of the *same* raw
    # record after its outputs were delivered sends nothing again: the next test.)
    assert [d["id"] for d in unique] == ["c1", "c1"]
    assert unique[0]["text"] == unique[1]["text"] and unique[0]["dedup"] == unique[1]["dedup"]
    assert [(d["id"], d["kind"], d["duplicate_of"]) for d in dups] == [
        ("c2", "exact", "c1"),
        ("c1", "redelivery", "c1"),
    ]
    assert newsflow.handlers.replayed == 1 and newsflow.handlers.replay_skipped == 0
    assert all(Codec().errors("duplicate", d) == [] for d in dups)


async def test_a_replay_whose_outputs_were_not_confirmed_is_sent_again(wired) -> None:  # type: ignore[no-untyped-def]
    # A crash after the verdict was written but before the outputs were confirmed: no mark,
    # so the replay gets its first verdict and goes out again (a repeat, never a loss).
    newsflow, recorder, _ = wired
    async with feeding(newsflow, "clean") as agent:
        await agent.put(raw("r1"), key=b"r1")
    cleaned = [v for t, _, v in recorder.sent if t == "cleaned"]
    handlers = newsflow.handlers
    newsflow.deduplicator.bind_state(newsflow.verdicts)  # as the dedup agent does on start
    src = Source("articles.cleaned", 0, 0, b"r1")
    assert await handlers.on_cleaned(cleaned[0], src) == "unique"  # no mark_forwarded: crash
    handlers.to_mark.clear()
    assert await handlers.on_cleaned(cleaned[0], src) == "unique"
    handlers.mark_forwarded()  # this time the outputs were delivered
    assert await handlers.on_cleaned(cleaned[0], src) == "unique"
    unique = recorder.on("unique")
    assert [d["id"] for d in unique] == ["r1", "r1"]
    assert unique[0]["text"] == unique[1]["text"] and unique[0]["dedup"] == unique[1]["dedup"]
    assert handlers.replayed == 2 and handlers.replay_skipped == 1
    # The producer sends r1 again (a new raw record, its own timestamp): it comes out again.
    resent = orjson.loads(cleaned[0])
    resent["ingested_at"] += 5.0
    assert await handlers.on_cleaned(orjson.dumps(resent), src) == "unique"
    assert [d["id"] for d in recorder.on("unique")] == ["r1", "r1", "r1"]
    assert handlers.replayed == 3 and handlers.replay_skipped == 1


async def test_tag_agent_batches_and_dead_letters_only_the_failing_article(wired) -> None:  # type: ignore[no-untyped-def]
    newsflow, recorder, pool = wired
    codec = Codec()
    async with feeding(newsflow, "clean") as agent:
        for aid in ("d1", "d2-poison", "d3"):
            await agent.put(raw(aid, body=ARTICLE + f" Reference {aid}."), key=aid.encode())
    cleaned = [v for t, _, v in recorder.sent if t == "cleaned"]
    async with feeding(newsflow, "tag") as agent:
        for value in cleaned:
            await agent.put(value)
        await agent.put(b"garbage")
    enriched = recorder.on("tagged")  # on the way to story clustering
    assert sorted(d["id"] for d in enriched) == ["d1", "d3"]
    assert all(codec.errors("enriched", d) == [] for d in enriched)
    assert enriched[0]["entities"][0]["name"] == "Acme"
    letters = {d["id"].split(":")[0]: d["reason"] for d in recorder.on("deadletter")}
    # Without an article id, a dead letter's id is the input's <topic>:<partition>:<offset>.
    assert letters == {"d2-poison": "processing_error", "articles.unique": "invalid_json"}
    assert sum(pool.batches) == 3


async def test_story_agent_assigns_stories_and_joins_duplicates(wired) -> None:  # type: ignore[no-untyped-def]
    newsflow, recorder, _ = wired
    codec = Codec()
    quake = (
        "A powerful earthquake of magnitude 6.8 struck the mountain town of Verlo on Sunday, "
        "killing at least 40 people and destroying hundreds of homes, officials said.\n\n"
        "Rescue teams in Verlo searched the rubble through the night as aftershocks shook "
        "the region and the mayor of Verlo appealed for tents and blankets."
    )
    quake2 = (
        "Rescuers in Verlo dug through collapsed homes on Monday after the magnitude 6.8 "
        "earthquake, as the death toll rose to 52 and the mayor of Verlo asked for tents.\n\n"
        "Aftershocks continued to shake the town of Verlo, officials said."
    )
    async with feeding(newsflow, "clean") as agent:
        await agent.put(raw("q1", body=quake, title="Earthquake hits Verlo"), key=b"q1")
        await agent.put(raw("q1-copy", body=quake, title="Earthquake hits Verlo"), key=b"q1-copy")
        await agent.put(raw("q2", body=quake2, title="Verlo quake toll rises"), key=b"q2")
        await agent.put(raw("f1"), key=b"f1")  # the Acme factory: another story
    cleaned = [v for t, _, v in recorder.sent if t == "cleaned"]
    async with feeding(newsflow, "dedup") as agent:
        for value in cleaned:
            await agent.put(value)
    unique = [v for t, _, v in recorder.sent if t == "unique"]
    async with feeding(newsflow, "tag") as agent:
        for value in unique:
            await agent.put(value)
    # The duplicate notice reached the tagged topic first (dedup decides before tagging ends).
    tagged = [v for t, _, v in recorder.sent if t == "tagged"]
    assert orjson.loads(tagged[0])["id"] == "q1-copy"
    # the tag agent passes the pool's packed terms on; one that is not base64 (q2) is
    # extracted from the text instead
    articles = [orjson.loads(v) for v in tagged[1:]]
    assert all(codec.errors("enriched", d) == [] and d["story_terms"] for d in articles)
    tagged = [tagged[0], *(orjson.dumps({**d, "story_terms": "not base64!"}) if d["id"] == "q2"
                           else orjson.dumps(d) for d in articles)]
    async with feeding(newsflow, "story") as agent:
        for value in tagged:
            await agent.put(value)
        await agent.put(b"not json")
    enriched = {d["id"]: d for d in recorder.on("enriched")}
    assert sorted(enriched) == ["f1", "q1", "q2"]  # the duplicate is not enriched
    assert not any("story_terms" in d for d in enriched.values())  # for the story stage only
    assert all(codec.errors("enriched", d) == [] for d in enriched.values())
    assert enriched["q1"]["story_id"] == enriched["q2"]["story_id"] != enriched["f1"]["story_id"]
    stories = recorder.on("stories")
    assert all(codec.errors("story", d) == [] for d in stories)
    last = [d for d in stories if d["story_id"] == enriched["q1"]["story_id"]][-1]
    assert (last["article_count"], last["duplicate_count"]) == (2, 1)
    assert [d["reason"] for d in recorder.on("deadletter")] == ["invalid_json"]


async def test_missing_extractor_module_means_not_ready_and_extraction_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.stages import clean_html

    missing = "newsflow_no_such_module"
    monkeypatch.setattr(clean_html, "REQUIRED_MODULES", ("trafilatura", missing))
    recorder = Recorder()
    newsflow = create_app(
        Settings(app_id="agents-extractor"),
        metrics=Metrics(),
        tag_pool=FakePool(),
        sink=recorder,
        dedup_state={},
        story_state=({}, {}, {}),
        clean_state={},
    )
    newsflow.app.finalize()
    # Everything else ready: partitions assigned (no consumer to ask here), the broker up.
    from workers.stream import consumer_view

    monkeypatch.setattr(consumer_view, "active_assignment", lambda app: set())
    newsflow.assigned = True
    try:
        await newsflow._start_pool()
        state = newsflow.readiness()
        assert state["partitions_assigned"] and state["model_loaded"] and state["broker_reachable"]
        assert state["ready"] is False and missing in state["html_extractor"]  # -> 503
        page = "<html><body><article><p>The ferry sails hourly.</p></article></body></html>"
        async with feeding(newsflow, "clean") as agent:
            await agent.put(raw("h1", body=page, content_type="text/html"), key=b"h1")
            await agent.put(raw("p1"), key=b"p1")
        assert [(d["id"], d["reason"]) for d in recorder.on("deadletter")] == [
            ("h1", "extraction_failed")
        ]
        assert [d["id"] for d in recorder.on("cleaned")] == ["p1"]  # text needs no extractor
    finally:
        newsflow.close_pool()
        newsflow.cleaner.close()


async def test_clean_memory_writes_reach_the_table_in_the_event() -> None:
    newsflow = create_app(
        Settings(app_id="agents-memory", clean_source_memory=True),
        metrics=Metrics(),
        tag_pool=FakePool(),
        sink=Recorder(),
        dedup_state={},
        story_state=({}, {}, {}),
        clean_state={},
    )
    newsflow.app.finalize()
    assert newsflow.clean_memory is not None
    async with feeding(newsflow, "clean") as agent:
        await agent.put(raw("m1", source="example.org"), key=b"m1")
    table = newsflow.clean_memory.table  # the dict standing in for the Faust table
    assert any(key.endswith(":example.org") for key in table), table.keys()
    assert newsflow.clean_memory.flush() == 0  # nothing left pending after the event
