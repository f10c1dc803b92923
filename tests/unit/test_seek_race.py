"""The seek race of docs/reliability.md, forced: Faust's real fetch loop and ``perform_seek`` on a
real (unstarted) Faust consumer, with the broker replaced by a fake fetch that follows seeks.

The interleaving is the one logged after a kill -9 test's restart: the fetch loop is handing a
batch of a just-resumed partition to the streams when the recovery's seek to the committed
offset starts; the seek finishes (it goes through the consumer thread) while the loop is still
walking the stale batch. The streams' queues are cleared when the flow resumes after the seek
(Faust's design: the seek fetches those records again), so every record from the committed
offset on must be handed out again after the seek. Without workers/stream/faustfix.py it is
not: the loop moves the read offset past the seek and the re-fetched records below it are
dropped (the partition is wedged: its committed offset can never move). With it, all are
handed out again. The watchdog's re-read (a second ``perform_seek`` when every agent is idle,
``Newsflow._reread_waiting_input``) heals the wedge.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from workers.stream.faustfix import serialise_seeks

TOPIC = "articles.unique"
COMMITTED = 178  # the partition's committed offset when the recovery seeks
HIGHWATER = 690  # a 1 MiB fetch of articles: offsets 178-689, as in the logged wedge
SEEK_AT = COMMITTED + 2  # the record being handed out when the recovery's seek starts


class Broker:
    """One partition's records and the consumer's fetch position, moved by fetches and seeks."""

    def __init__(self, tp: TP) -> None:
        self.tp = tp
        self.position = COMMITTED
        self.seek_gate = asyncio.Event()  # the consumer-thread round trip of a seek

    async def getmany(self, active_partitions: set[TP], timeout: float) -> dict:
        if self.tp not in active_partitions or self.position >= HIGHWATER:
            await asyncio.sleep(0.005)
            return {}
        batch = [self.record(offset) for offset in range(self.position, HIGHWATER)]
        self.position = HIGHWATER
        return {self.tp: batch}

    async def seek_to_committed(self) -> dict[TP, int]:
        await self.seek_gate.wait()
        self.position = COMMITTED
        return {self.tp: COMMITTED}

    def record(self, offset: int) -> ConsumerRecord:
        return ConsumerRecord(
            TOPIC, 0, offset, 0, 0, b"k", b"v", None, 1, 1, []  # type: ignore[arg-type]
        )


class Streams:
    """What the fetch loop hands to the streams; the queues are cleared at each seek."""

    def __init__(self, consumer, broker: Broker) -> None:  # type: ignore[no-untyped-def]
        self.consumer, self.broker = consumer, broker
        self.after_seek: list[int] = []
        self.seek: asyncio.Task | None = None
        self.seeks_done = 0

    async def __call__(self, message) -> None:  # type: ignore[no-untyped-def]
        if self.seeks_done:
            self.after_seek.append(message.offset)
        elif message.offset == SEEK_AT:
            # The recovery's seek begins (a task of its own) while this record is handed out.
            self.seek = asyncio.ensure_future(self.seek_once())
            await asyncio.sleep(0)
            # The consumer thread answers soon; a fetch loop that keeps walking the stale batch
            # gets there first (next branch), one that stopped waits for this.
            asyncio.get_running_loop().call_later(0.2, self.broker.seek_gate.set)
        elif message.offset == SEEK_AT + 1 and self.seek is not None:
            # Still walking the stale batch: the seek completes now.
            self.broker.seek_gate.set()
            await self.seek

    async def seek_once(self) -> None:
        await self.consumer.perform_seek()
        self.seeks_done += 1


def make_consumer(fixed: bool):  # type: ignore[no-untyped-def]
    app = faust.App("seek-race-test", broker="kafka://127.0.0.1:1")
    consumer = app.consumer
    tp = TP(TOPIC, 0)
    broker = Broker(tp)
    consumer._getmany = broker.getmany
    consumer.seek_to_committed = broker.seek_to_committed
    consumer.highwater = lambda tp: HIGHWATER
    app.topics._acking_topics.add(TOPIC)
    consumer._committed_offset[tp] = COMMITTED
    consumer.resume_partitions({tp})  # the recovery resumed the stream partition...
    consumer.resume_flow()
    if fixed:
        serialise_seeks(consumer)
    streams = Streams(consumer, broker)
    consumer.callback = streams
    return consumer, tp, streams


async def run_fetch_loop(consumer, until, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    fetcher = SimpleNamespace(_stopped=asyncio.Event())
    loop = asyncio.ensure_future(consumer._drain_messages(fetcher))
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not until() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
    finally:
        fetcher._stopped.set()
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


def handed_out_again(streams: Streams) -> set[int]:
    return set(streams.after_seek) & set(range(COMMITTED, HIGHWATER))


async def test_without_the_fix_the_race_wedges_the_partition() -> None:
    # Pins that this Faust still has the race (if it fails, Faust changed: look at the fix).
    consumer, tp, streams = make_consumer(fixed=False)
    await run_fetch_loop(consumer, until=lambda: False, timeout=1.0)
    assert streams.seeks_done == 1
    missing = set(range(COMMITTED, HIGHWATER)) - handed_out_again(streams)
    # The records handed out before the seek ended (cleared from the queues) are dropped when
    # they are fetched again: they sit below the read offset the stale batch left behind. The
    # committed offset can never move past them: the partition is wedged (the logged stall).
    assert missing == set(range(COMMITTED, SEEK_AT + 2)), sorted(missing)[:10]
    assert consumer._read_offset[tp] == HIGHWATER - 1


async def test_with_the_fix_every_record_is_handed_out_again() -> None:
    consumer, tp, streams = make_consumer(fixed=True)
    wanted = set(range(COMMITTED, HIGHWATER))
    await run_fetch_loop(consumer, until=lambda: handed_out_again(streams) == wanted)
    assert streams.seeks_done == 1
    assert handed_out_again(streams) == wanted
    assert not consumer._gap[tp], "no offsets may be counted as done without being processed"
    assert consumer.flow_active


@pytest.mark.parametrize("fixed", [False, True])
async def test_the_watchdogs_reread_heals_a_wedge(fixed: bool) -> None:
    # The watchdog's re-read is a second perform_seek once every agent is idle (app.py,
    # _reread_waiting_input); it runs whether or not the fix is installed.
    consumer, _tp, streams = make_consumer(fixed=fixed)
    await run_fetch_loop(consumer, until=lambda: False, timeout=0.6)
    streams.after_seek.clear()
    heal = asyncio.ensure_future(consumer.perform_seek())  # nothing is being handed out now
    wanted = set(range(COMMITTED, HIGHWATER))
    await run_fetch_loop(consumer, until=lambda: set(streams.after_seek) >= wanted)
    await heal
    assert set(streams.after_seek) >= wanted
