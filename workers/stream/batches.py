"""Batches of a Faust stream's events, without waking up while there is nothing to take.

Faust's ``Stream.take_events(max_, within)`` waits for a full buffer with ``within`` as a
timeout, over and over: an agent with nothing to do still wakes every ``within`` seconds (100
times a second at the stages' 10 ms window), and each wake-up is a ``Service.wait_first``
(three tasks, a timer, their cancellation). The worker's agents mostly wait (the cleaning agent
for the crawlers, the story agent for the tagging pool's next batch), so in a profile of the
1,500-article backlog that waiting was ~70,000 wake-ups, more than the events.

:func:`take_batches` yields the same batches from the same machinery (a buffering processor on
the passively drained stream, acknowledgement of a batch's events when the agent asks for the
next one, the buffer held while the agent works): only the waiting differs. It waits without a
timeout for the first event, then at most ``within`` seconds (or until ``max_`` events) for more,
so a batch's wait is still bounded by time, counted from its first event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from mode.utils.futures import notify

log = logging.getLogger("newsflow.batches")


def take_batches(stream: Any, max_: int, within: float) -> AsyncGenerator[list[Any], None]:
    """Lists of up to ``max_`` events of ``stream``; see the module docstring."""
    agen = _take_batches(stream, max_, within)
    # As Faust's own buffering generators: the stream closes it on stop if the agent abandons it.
    stream._active_agens.add(agen)
    return agen


async def _take_batches(stream: Any, max_: int, within: float) -> AsyncGenerator[list[Any], None]:
    events: list[Any] = []
    arrived = asyncio.Event()  # the buffer holds an event
    full = asyncio.Event()  # the buffer holds max_ events
    consumed = asyncio.Event()  # the agent has taken the buffer
    consuming: asyncio.Future[None] | None = None  # set while the agent works on a batch
    enable_acks = stream.enable_acks
    channel_it = aiter(stream.channel)

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:  # the agent is working on the last batch
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("the batch buffer found no current event")
            events.append(event)
            arrived.set()
            if len(events) >= max_:
                full.set()
                consumed.clear()
                await stream.wait(consumed)  # never more than max_ events in a batch
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("could not add an event to the batch buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # the events are acknowledged here, after their batch
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel_it)
    try:
        while not stream.should_stop:
            if await stream.wait_for_stopped(arrived):  # no timer while nothing comes
                break
            if not full.is_set():
                await stream.wait_for_stopped(full, timeout=within)
            consuming = asyncio.get_running_loop().create_future()
            try:
                yield list(events)
            finally:
                for event in events:
                    await stream.ack(event)
                events.clear()
                arrived.clear()
                full.clear()
                notify(consuming)  # the buffering processor may take events again
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
