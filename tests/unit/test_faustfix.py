"""The seek serialisation of workers/stream/faustfix.py, on a real (unstarted) Faust consumer."""

from __future__ import annotations

import inspect

import faust
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

from workers.stream.faustfix import serialise_seeks


def consumer() -> Consumer:
    return faust.App("faustfix-test", broker="kafka://127.0.0.1:1").consumer


def test_faust_still_has_the_race_we_close() -> None:
    # The recovery resumes the stream partitions before it seeks, and the fetch loop drops
    # records below the read offset and marks jumps as gaps. If a Faust upgrade changes this,
    # look at the fix again.
    completed = inspect.getsource(Recovery.on_recovery_completed)
    assert completed.index("consumer.resume_partitions(") < completed.index("perform_seek()")
    drain = inspect.getsource(Consumer._drain_messages)
    assert "offset >= r_offset" in drain and "_add_gap" in drain
    assert "self.perform_seek()" in inspect.getsource(Consumer.getmany)


async def test_the_flow_is_stopped_during_the_seek_and_resumed_after() -> None:
    c = consumer()
    seen: list[bool] = []

    async def seek() -> None:
        seen.append(c.flow_active)

    c.perform_seek = seek  # type: ignore[method-assign]
    c.resume_flow()
    assert serialise_seeks(c) is True
    await c.perform_seek()
    assert seen == [False] and c.flow_active is True


async def test_a_seek_while_the_flow_is_stopped_leaves_it_stopped() -> None:
    c = consumer()

    async def seek() -> None:
        pass

    c.perform_seek = seek  # type: ignore[method-assign]
    c.stop_flow()  # as Faust does at the start of a rebalance
    serialise_seeks(c)
    await c.perform_seek()
    assert c.flow_active is False


async def test_a_nested_seek_does_not_resume_the_flow_early() -> None:
    c = consumer()
    states: list[bool] = []

    async def seek() -> None:
        states.append(c.flow_active)
        if len(states) == 1:
            await c.perform_seek()  # the fetch loop's own seek-back, during ours
            states.append(c.flow_active)

    c.perform_seek = seek  # type: ignore[method-assign]
    c.resume_flow()
    serialise_seeks(c)
    await c.perform_seek()
    assert states == [False, False, False] and c.flow_active is True


def test_installing_twice_is_a_no_op() -> None:
    c = consumer()
    assert serialise_seeks(c) is True
    wrapped = c.perform_seek
    assert serialise_seeks(c) is False and c.perform_seek is wrapped
