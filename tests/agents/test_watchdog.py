"""The app's progress check (``Newsflow._check_progress``) on a Faust app without a broker: the
re-read from the committed offsets when input waits and every agent is idle, the stall that
fails /health/live, and neither while the broker is unreachable (an outage is not a stuck
worker). The consumer's figures and its seek are replaced; the clock is the test's."""

from __future__ import annotations

import pytest
from faust.types import TP

from workers.ops.health import liveness
from workers.ops.metrics import Metrics
from workers.settings import Settings
from workers.stream import consumer_view
from workers.stream.app import Newsflow, create_app
from workers.stream.progress import ProgressWatchdog

STALL = 8.0  # stall timeout of these tests; the re-read comes after a quarter of it


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pool:
    async def tag(self, articles):  # type: ignore[no-untyped-def]
        raise AssertionError("not used")


async def _sink(topic: str, key: bytes, value: bytes) -> None:
    raise AssertionError("not used")


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> tuple[Newsflow, Clock, list[int], dict]:
    newsflow = create_app(
        Settings(app_id="watchdog-test", stall_timeout=STALL),
        metrics=Metrics(),
        tag_pool=Pool(),
        sink=_sink,
        dedup_state={},
        story_state=({}, {}, {}),
        clean_state={},
    )
    clock = Clock()
    newsflow.progress = ProgressWatchdog(STALL, clock=clock)
    newsflow.assigned = True
    state = {"pending": 512}
    tps = {TP("articles.unique", 2)}
    monkeypatch.setattr(consumer_view, "input_partitions", lambda app, topics: tps)
    monkeypatch.setattr(consumer_view, "pending_input", lambda app, tps: state["pending"])

    async def consumer_state(app, tps):  # type: ignore[no-untyped-def]
        return {"partitions": {"articles.unique:2": {"committed": 178, "read": 689}}}

    monkeypatch.setattr(consumer_view, "consumer_state", consumer_state)
    seeks: list[int] = []

    async def perform_seek() -> None:
        seeks.append(int(clock.now - 1000.0))

    monkeypatch.setattr(newsflow.app.consumer, "perform_seek", perform_seek)
    return newsflow, clock, seeks, state


async def run_checks(newsflow: Newsflow, clock: Clock, seconds: float) -> None:
    """The progress timer, every 5 s of the test clock... here every second."""
    for _ in range(int(seconds)):
        clock.now += 1.0
        await newsflow._check_progress()


def live(newsflow: Newsflow) -> dict:
    return liveness(
        newsflow.loop_monitor,
        progress_stalled=newsflow.progress.stalled,
        pending_input=newsflow.progress.pending,
        broker_reachable=newsflow.broker_up,
    )


async def test_idle_with_input_waiting_rereads_once_then_fails_liveness(worker) -> None:  # type: ignore[no-untyped-def]
    newsflow, clock, seeks, _ = worker
    await newsflow._check_progress()  # input waits from here (t=0)
    await run_checks(newsflow, clock, STALL / 4 - 1)
    assert seeks == []
    await run_checks(newsflow, clock, 1)
    assert seeks == [STALL / 4]  # the re-read from the committed offsets
    assert newsflow.metrics.input_rereads._value.get() == 1
    await run_checks(newsflow, clock, STALL / 2)
    assert seeks == [STALL / 4] and live(newsflow)["live"]  # once per idle period
    await run_checks(newsflow, clock, STALL / 4)
    assert newsflow.progress.stalled and not live(newsflow)["live"]
    assert newsflow.metrics.stalled._value.get() == 1


async def test_no_reread_while_an_agent_is_in_the_middle_of_a_batch(worker) -> None:  # type: ignore[no-untyped-def]
    newsflow, clock, seeks, _ = worker
    newsflow.progress.begin("tag")  # a tagging batch in flight: a re-read would repeat it
    await run_checks(newsflow, clock, STALL + 2)
    assert seeks == []
    assert newsflow.progress.stalled  # a wedged agent while the broker answers: not live
    assert not live(newsflow)["live"]


async def test_a_broker_outage_is_neither_a_stall_nor_a_reason_to_reread(worker) -> None:  # type: ignore[no-untyped-def]
    newsflow, clock, seeks, state = worker
    newsflow.broker_up = False  # what the broker probe finds while the broker is down
    await run_checks(newsflow, clock, 10 * STALL)
    assert seeks == [] and not newsflow.progress.stalled
    body = live(newsflow)
    assert body["live"] and body["pending_input"] == 512 and body["broker_reachable"] is False
    # The broker is back: the idle clock starts now, not at the start of the outage.
    newsflow.broker_up = True
    await run_checks(newsflow, clock, STALL - 1)
    assert live(newsflow)["live"]
    assert len(seeks) == 1  # after STALL / 4 of idleness with the broker answering
    await run_checks(newsflow, clock, 2)
    assert not live(newsflow)["live"]
    # Progress ends a stall.
    newsflow.progress.processed(32)
    state["pending"] = 480
    await run_checks(newsflow, clock, 1)
    assert live(newsflow)["live"]
