"""Poison input: no message crashes or wedges an agent, and a failure inside a tagging batch
dead-letters only the article that caused it, with the real tagging pool.

The fuzzing runs the agents' handlers in process (every input must end in exactly one output);
the pool tests use the real :class:`TagPool` and kill its child process mid-batch.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator, Sequence

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workers.codec import Codec
from workers.ops.metrics import Metrics
from workers.records import CleanedArticle
from workers.settings import Settings
from workers.stages.clean import make_cleaner
from workers.stages.dedup import make_deduplicator
from workers.stream.agents import Handlers, Source
from workers.stream.tagpool import TagPool
from workers.stream.verdicts import VerdictState

pytestmark = pytest.mark.slow

TEXT = (
    "Jens Stoltenberg said on Monday that NATO would keep its troops in the region for as long "
    "as needed, after talks in Brussels with ministers from the alliance's member states."
)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def __call__(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def topics(self) -> list[str]:
        return [topic for topic, _, _ in self.sent]


class KillerPool:
    """The real pool, whose child is SIGKILLed mid-call (at most ``max_kills`` times) on calls
    that include the article ``poison`` (any call if None), as a segfault would kill it."""

    def __init__(self, pool: TagPool, poison: str | None, max_kills: int) -> None:
        self.pool, self.poison, self.max_kills, self.kills = pool, poison, max_kills, 0

    async def tag(self, articles: Sequence[CleanedArticle]):  # type: ignore[no-untyped-def]
        hit = self.poison is None or any(a.id == self.poison for a in articles)
        if not hit or self.kills >= self.max_kills:
            return await self.pool.tag(articles)
        call = asyncio.ensure_future(self.pool.tag(articles))
        await asyncio.sleep(0.05)
        assert not call.done(), "the call must still be running when the child is killed"
        os.kill(self.pool.pids()[0], signal.SIGKILL)
        self.kills += 1
        return await call


@pytest.fixture(scope="module")
def pool() -> Iterator[TagPool]:
    tag_pool = TagPool(Settings(tag_workers=1))
    asyncio.run(tag_pool.warm_up())
    yield tag_pool
    tag_pool.close()


def handlers(sink: Recorder, tag_pool: object) -> Handlers:
    settings = Settings()
    return Handlers(
        codec=Codec(),
        metrics=Metrics(),
        sink=sink,
        cleaner=make_cleaner(settings),
        deduplicator=make_deduplicator(settings, normalise=lambda text: text),
        tag_pool=tag_pool,  # type: ignore[arg-type]
        verdicts=VerdictState({}),
    )


def unique_message(aid: str, text: str = TEXT * 30) -> bytes:
    return Codec().encode_cleaned(CleanedArticle(id=aid, text=text, title="NATO"))


async def test_a_child_killed_mid_batch_costs_no_article(pool: TagPool) -> None:
    sink = Recorder()
    # The child dies once, during the batch (a transient crash): every article is retried alone
    # on a fresh child and comes out enriched.
    killer = KillerPool(pool, poison=None, max_kills=1)
    batch = [(unique_message(f"a{i}"), Source("unique", 0, i)) for i in range(8)]
    outcomes = await handlers(sink, killer).on_unique_batch(batch)
    assert killer.kills == 1
    assert outcomes == ["ok"] * 8
    assert sink.topics() == ["tagged"] * 8  # on to story clustering
    names = {e["name"] for e in orjson.loads(sink.sent[0][2])["entities"]}
    assert "NATO" in names


async def test_an_article_that_kills_its_child_is_the_only_dead_letter(pool: TagPool) -> None:
    sink = Recorder()
    killer = KillerPool(pool, poison="b5", max_kills=99)
    batch = [(unique_message(f"b{i}"), Source("unique", 1, 100 + i)) for i in range(8)]
    outcomes = await handlers(sink, killer).on_unique_batch(batch)
    assert killer.kills == 2  # the batch, then the poison article alone
    assert outcomes == ["ok"] * 5 + ["deadletter"] + ["ok"] * 2
    letters = [orjson.loads(v) for t, _, v in sink.sent if t == "deadletter"]
    assert [(d["id"], d["reason"]) for d in letters] == [("b5", "processing_error")]
    assert letters[0]["source"]["offset"] == 105
    # The pool is healthy afterwards.
    results, _ = await pool.tag([CleanedArticle(id="after", text=TEXT)])
    assert results[0]


class StubPool:
    async def tag(self, articles):  # type: ignore[no-untyped-def]
        return [() for _ in articles], 0.0


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
raw_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=20) | json_values,
        "url": st.text(max_size=30) | json_values,
        "body": st.text(max_size=300) | json_values,
        "content_type": st.sampled_from(["text/plain", "text/html", "x"]) | json_values,
        "title": st.text(max_size=40) | json_values,
        "published_at": st.text(max_size=30) | json_values,
        "fetched_at": st.text(max_size=30) | json_values,
        "language": st.text(max_size=5) | json_values,
    },
)
messages = (
    st.binary(max_size=300)
    | json_values.map(orjson.dumps)
    | raw_like.map(orjson.dumps)
    | st.text(max_size=200).map(
        lambda html: orjson.dumps(
            {"id": "h", "body": f"<html><body><p>{html}</p>", "content_type": "text/html"}
        )
    )
)


@pytest.fixture(scope="module")
def fuzzed() -> tuple[Handlers, Recorder]:
    sink = Recorder()
    return handlers(sink, StubPool()), sink


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=messages, topic=st.sampled_from(["raw", "cleaned", "unique"]))
def test_fuzzed_messages_end_in_exactly_one_output(
    fuzzed: tuple[Handlers, Recorder], value: bytes, topic: str
) -> None:
    agents, sink = fuzzed
    sink.sent.clear()
    src = Source(topic, 0, 1)

    async def run() -> None:
        if topic == "raw":
            await agents.on_raw(value, src)
        elif topic == "cleaned":
            await agents.on_cleaned(value, src)
        else:
            await agents.on_unique_batch([(value, src)])

    asyncio.run(asyncio.wait_for(run(), timeout=30))  # never wedged
    expected = {
        "raw": {"cleaned", "deadletter"},
        "cleaned": {"unique", "duplicates", "deadletter"},
        "unique": {"tagged", "deadletter"},
    }[topic]
    # A duplicate also goes to the tagged topic, as a notice for story clustering (not an
    # output: the story agent only updates its original's story with it).
    outputs = [t for t in sink.topics() if not (t == "tagged" and topic == "cleaned")]
    assert len(outputs) == 1 and outputs[0] in expected, sink.topics()
    if outputs == ["duplicates"]:
        assert sink.topics() == ["duplicates", "tagged"]
    if sink.topics()[0] == "deadletter":
        assert Codec().errors("deadletter", orjson.loads(sink.sent[0][2])) == []
