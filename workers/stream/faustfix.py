"""Closes a record-losing race in faust-streaming's consumer (0.15.3) around its seeks.

Faust's fetch loop (``Consumer._drain_messages``) keeps a *read offset* per partition, the
offset of the last record it handed to the streams; it drops fetched records below it, and
when a record lands more than one offset above it, it marks the offsets in between as a *gap*
that the commit treats as done. After every rebalance the table recovery resumes the stream
partitions and *then* seeks them to their committed offsets (``perform_seek``, a round trip
through the consumer thread). Meanwhile the fetch loop can be walking a batch it fetched for a
resumed partition. The seek sets the read offset back to the committed offset *c*; the next
record of the stale batch, *x*, is more than one above it, so *c+1 … x* become a gap, and the
read offset moves on to the batch's end. The batch's records are then cleared from the stream
queues when the flow resumes, the re-fetched ones from *c* are below the read offset and are
dropped. Then either *c* is never acknowledged, and the partition processes nothing until a
restart (seen: 512 records waiting, every agent idle), or Faust's commit, which tolerates a
one-offset hole right after the committed offset, counts the gap as done and commits records
nobody processed (seen: 72 articles lost in a kill -9 test). docs/reliability.md has the logs.

:func:`serialise_seeks` makes every ``perform_seek`` stop the consumer's flow first, so the
fetch loop stops handing out the stale batch before the read offsets are reset, and resumes it
after the seek. That is what Faust already does around a rebalance; the seek was just outside
it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("newsflow.faustfix")

_MARK = "_newsflow_serialised_seeks"


def serialise_seeks(consumer: Any) -> bool:
    """Wrap ``consumer.perform_seek`` as described above; True if it was wrapped now."""
    if getattr(consumer, _MARK, False):
        return False
    original = consumer.perform_seek
    inside = False

    async def perform_seek() -> None:
        nonlocal inside
        if inside:  # the fetch loop seeks too (while the flow is stopped): no second toggle
            await original()
            return
        inside = True
        was_active = bool(consumer.flow_active)
        consumer.stop_flow()
        try:
            await original()
        finally:
            inside = False
            if was_active:
                consumer.resume_flow()

    consumer.perform_seek = perform_seek
    setattr(consumer, _MARK, True)
    return True


_GUARD = "_newsflow_guarded_commits"


def guard_commits(consumer: Any) -> bool:
    """Never commit past a record still in flight; True if ``_new_offset`` was wrapped now.

    Faust's commit (``Consumer._new_offset``) takes the longest run of consecutive acknowledged
    offsets and commits past it. It refuses when the run does not start right after the
    committed offset, but skips that test when the committed offset is falsy: ``None`` (the
    group never committed this partition) or ``0``. With several actors on one topic (the tag
    agent's ``tag_in_flight``), one actor can acknowledge offsets 32-63 while another still
    holds 0-31: Faust then commits 64, and a crash loses 0-31 (seen in a kill -9 run).

    The wrapper asks what is really in flight: the records a stream has taken and not yet
    acknowledged (Faust's ``_unacked_messages``; an in-flight batch holds its events, so they
    are there). If one of them on this partition lies below every acknowledged offset, there
    is nothing safe to commit yet, whatever the committed offset says.
    """
    if getattr(consumer, _GUARD, False):
        return False
    original = consumer._new_offset

    def _new_offset(tp: Any) -> int | None:
        acked = consumer._acked[tp]
        if acked:
            lowest_acked = min(acked)
            for message in list(consumer._unacked_messages):
                if message.tp == tp and not message.acked and message.offset < lowest_acked:
                    return None
        return original(tp)

    consumer._new_offset = _new_offset
    setattr(consumer, _GUARD, True)
    return True
