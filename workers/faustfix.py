"""A work-around for a record-dropping race in faust-streaming's consumer (0.15.3).

Faust's fetch loop (``Consumer._drain_messages``) keeps a *read offset* per partition, the
offset of the last record it handed to the streams, and silently drops any fetched record whose
offset is below it. After a rebalance the table recovery resumes the stream partitions and
*then* seeks them to their committed offsets (``Recovery.on_recovery_completed``:
``resume_partitions`` before ``perform_seek``). The seek is a round trip through the consumer
thread; meanwhile the fetch loop can drain a batch of the just-resumed partition. The seek sets
the read offset back to the committed offset, but the fetch loop, still walking its stale
batch, moves it forward again to the batch's last offset; the queues it delivered that batch to
are cleared when the flow resumes. Kafka then re-delivers from the committed offset, and every
one of those records is below the stale read offset: dropped. The consumer's position is now at
the end of the batch, nothing commits beyond the committed offset, and the partition processes
nothing until the worker restarts. We saw exactly this after kill -9 restarts: one
``articles.unique`` partition with 512 records (one 1 MiB fetch) between its committed offset
and its highwater mark, every agent idle (docs/reliability.md).

The filter protects nothing this pipeline needs: aiokafka only returns records that continue
from the partition's current position (it discards fetches made before a seek), so a record the
fetch loop receives is never one the streams already have, except in the race above, where
delivering it again is exactly what at-least-once needs. :func:`disable_read_offset_filter`
gives the consumer a read-offset map that still records offsets but never filters. The same
map also feeds Faust's offset-gap tracking, which exists for compacted or transactional input
topics; this worker's input topics are neither, so their offsets have no gaps.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("newsflow.faustfix")


class UnfilteredReadOffsets(dict):
    """Stores read offsets like Faust's map, but answers "none read yet" to every lookup by
    key, so the fetch loop delivers every record Kafka returns. ``get`` still tells the truth
    (diagnostics use it)."""

    def __getitem__(self, key: Any) -> None:
        return None


def disable_read_offset_filter(consumer: Any) -> bool:
    """Install :class:`UnfilteredReadOffsets` on a Faust consumer; True if it was installed now.

    Must run before Faust's fetch loop starts (it binds the map's lookup once, when it starts);
    the app does it when partitions are first assigned, before the table recovery starts the
    fetcher.
    """
    current = getattr(consumer, "_read_offset", None)
    if isinstance(current, UnfilteredReadOffsets):
        return False
    if current is None:
        log.warning("Faust consumer has no _read_offset map; read-offset filter left as it is")
        return False
    consumer._read_offset = UnfilteredReadOffsets(
        {tp: offset for tp, offset in dict(current).items() if offset is not None}
    )
    return True
