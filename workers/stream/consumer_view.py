"""What the worker reads from its Faust consumer: assignment, lag, waiting input, and a snapshot
of the consumer's state for the log when the progress watchdog finds it stalled.

Faust keeps committed and read offsets and the paused/active partition sets in attributes of its
consumer that are not public API; they are read defensively here (``getattr`` with defaults) so
that a Faust upgrade degrades a diagnostic, not the worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust.types import TP

from workers.stream.progress import pending_messages

LEADER_TOPIC_MARK = "__assignor-__leader"  # Faust's leader topic: every member is assigned it


def active_assignment(app: Any) -> set[TP]:
    """Assigned partitions this worker processes: not standby table replicas, not the leader
    topic."""
    assignment = app.consumer.assignment() & app.assignor.assigned_actives()
    return {tp for tp in assignment if LEADER_TOPIC_MARK not in tp.topic}


def input_partitions(app: Any, topics: Iterable[str]) -> set[TP]:
    """Assigned active partitions of the given (agent input) topics."""
    names = set(topics)
    return {tp for tp in active_assignment(app) if tp.topic in names}


def pending_input(app: Any, tps: Iterable[TP]) -> int:
    """Messages between each partition's committed offset and its highwater mark."""
    consumer = app.consumer
    committed = getattr(consumer, "_committed_offset", {})
    tps = list(tps)
    return pending_messages(
        {tp: consumer.highwater(tp) for tp in tps}, {tp: committed.get(tp) for tp in tps}
    )


async def partition_lags(app: Any, topics: Iterable[str]) -> list[tuple[TP, int]]:
    """(partition, highwater − fetch position) for the assigned partitions of ``topics`` whose
    figures are known yet."""
    consumer = app.consumer
    names = set(topics)
    lags = []
    for tp in consumer.assignment():
        if tp.topic not in names:
            continue
        try:
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
        except Exception:  # not fetched yet
            continue
        if highwater is not None and position is not None:
            lags.append((tp, max(0, highwater - position)))
    return lags


async def consumer_state(app: Any, tps: Iterable[TP]) -> dict[str, Any]:
    """Per partition highwater, committed offset, position and Faust's read offset; the active,
    paused and buffered partition sets; flow and recovery state. For the stall log."""
    consumer = app.consumer
    committed = getattr(consumer, "_committed_offset", {})
    read = dict(getattr(consumer, "_read_offset", None) or {})
    partitions = {}
    for tp in sorted(tps):
        try:
            position = await consumer.position(tp)
        except Exception:
            position = None
        partitions[f"{tp.topic}:{tp.partition}"] = {
            "highwater": consumer.highwater(tp),
            "committed": committed.get(tp),
            "position": position,
            "read": read.get(tp),
        }

    def names(attr: str) -> list[str]:
        return sorted(f"{tp.topic}:{tp.partition}" for tp in getattr(consumer, attr, None) or ())

    return {
        "partitions": partitions,
        "active": names("_active_partitions"),
        "paused": names("_paused_partitions"),
        "buffered": names("_buffered_partitions"),
        "flow_active": getattr(consumer, "flow_active", None),
        "flow_control_active": app.flow_control.is_active(),
        "in_recovery": getattr(app, "in_recovery", None),
        "unacked": len(getattr(consumer, "_unacked_messages", ())),
        "generation": getattr(app, "consumer_generation_id", None),
    }
