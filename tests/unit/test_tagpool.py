"""The tagging process pool: same results as in-process, order kept, loop never stalls, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from workers.records import CleanedArticle, Tagged
from workers.settings import Settings
from workers.stages.entities import make_tagger
from workers.stages.stories_score import StoryConfig
from workers.stages.stories_text import article_terms, unpack_terms
from workers.stream.tagpool import TagPool, TagPoolError, _split

TEXTS = [
    "Angela Merkel met Emmanuel Macron in Paris on Monday.",
    "The North Atlantic Treaty Organisation said NATO troops will stay in Iraq.",
    "Shares of Microsoft rose in New York as the IMF cut its forecast for Japan.",
    "Jens Stoltenberg spoke in Brussels. Stoltenberg said the alliance was united.",
    "Le gouvernement français a annoncé des mesures.",
]


@pytest.fixture(scope="module")
def pool() -> Iterator[TagPool]:
    tag_pool = TagPool(Settings(tag_workers=2))
    yield tag_pool
    tag_pool.close()


def articles(n: int) -> list[CleanedArticle]:
    return [CleanedArticle(id=str(i), text=TEXTS[i % len(TEXTS)],
                           language="fr" if i % len(TEXTS) == 4 else "en") for i in range(n)]


async def test_results_match_the_in_process_tagger(pool: TagPool) -> None:
    await pool.warm_up()
    batch = articles(11)
    results, inference = await pool.tag(batch)
    assert results == make_tagger(Settings()).tag_batch(batch)
    assert inference > 0
    assert results[4] == ()
    assert await pool.tag([]) == ([], 0.0)


async def test_results_carry_the_articles_packed_story_terms(pool: TagPool) -> None:
    await pool.warm_up()
    batch = [replace(a, title=f"Title {a.id}") for a in articles(6)]
    results, _ = await pool.tag(batch)
    weight = StoryConfig().title_weight
    for article, result in zip(batch, results, strict=True):
        assert isinstance(result, Tagged)
        assert unpack_terms(result.story_terms, weight) == article_terms(
            article.title, article.text, weight)
    assert results[0].story_terms != results[1].story_terms


async def test_event_loop_keeps_ticking_while_tagging(pool: TagPool) -> None:
    await pool.warm_up()
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            expected = time.perf_counter() + 0.005
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - expected)

    task = asyncio.create_task(ticker())
    until = time.perf_counter() + 1.0
    while time.perf_counter() < until:
        await pool.tag(articles(64))
    stop.set()
    await task
    lags.sort()
    assert len(lags) > 20
    assert lags[int(0.99 * (len(lags) - 1))] < 0.05, lags[-5:]


async def test_a_dead_child_is_replaced(pool: TagPool) -> None:
    await pool.warm_up()
    victim = pool._workers[0].process
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(5)
    with pytest.raises(TagPoolError, match="died"):
        await pool.tag(articles(4))
    results, _ = await pool.tag(articles(4))
    assert len(results) == 4 and all(isinstance(r, tuple) for r in results)


async def test_a_wedged_child_is_killed_after_the_timeout_and_replaced() -> None:
    pool = TagPool(Settings(tag_workers=1, tag_timeout=1.0))
    try:
        await pool.warm_up()
        victim = pool._workers[0].process
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGSTOP)  # alive, never answers: as if stuck in native code
        started = time.perf_counter()
        with pytest.raises(TagPoolError, match="no answer within 1 s"):
            await pool.tag(articles(4))
        assert 1.0 <= time.perf_counter() - started < 10.0
        victim.join(5)
        assert not victim.is_alive()  # killed, not left behind stopped
        results, _ = await pool.tag(articles(4))
        assert len(results) == 4 and all(isinstance(r, tuple) for r in results)
    finally:
        pool.close()


def test_split_keeps_order_and_balances() -> None:
    batch = articles(7)
    chunks = _split(batch, 3)
    assert [len(c) for c in chunks] == [3, 2, 2]
    assert [a for c in chunks for a in c] == batch
    assert [len(c) for c in _split(batch[:1], 4)] == [1]


def test_records_crossing_the_pipe_pickle_back_equal() -> None:
    import pickle

    from workers.records import (
        CleanedArticle,
        Demonym,
        Entity,
        Mention,
        Rejected,
        RemovedLine,
        Tagged,
    )

    mentions = (Mention("NATO", 0, 4), Mention("Nato", 9, 13, in_title=True))
    article = CleanedArticle(
        id="a", text="NATO ... Nato", title="t", language="en", language_confidence=0.5,
        ingested_at=2.5, removed=(RemovedLine("Ad", "boilerplate", 1),), timings={"clean": 0.1},
    )
    tagged = Tagged((Entity("NATO", "ORG", "Q7184", mentions, 0.75),),
                    (Demonym("German", "Germany", "Q183", mentions[:1]),))
    for record in (article, tagged, Rejected("processing_error", "boom", "a"), [article, tagged]):
        back = pickle.loads(pickle.dumps(record))
        assert back == record and type(back) is type(record)
    back = pickle.loads(pickle.dumps(tagged))
    assert back.demonyms == tagged.demonyms
    assert back[0].count == 2
