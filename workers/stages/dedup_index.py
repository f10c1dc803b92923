"""In-memory indexes of the dedup stage, all derived from the durable state mapping.

* ``BandIndex`` - LSH band buckets. Each band of ``rows`` signature values (16 bits each, at most
  four per band) becomes one 64-bit key that also encodes the band number; a bucket holds one id
  or, on a collision, a list of ids, so the common single-member bucket costs one dict slot.
* ``ExpiryQueue`` - a heap of (event time, id) for expiring entries without scanning the state.

Nothing here is durable: after a restart or a rebalance the deduplicator rebuilds both from the
state mapping (``Deduplicator.rebuild``).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from itertools import repeat

import numpy as np
import numpy.typing as npt

from workers.stages.dedup_sketch import U16Array

_BAND_SALT = np.uint64(0x9E3779B97F4A7C15)
_VIEWS: dict[int, np.dtype[np.unsignedinteger]] = {
    1: np.dtype("<u2"), 2: np.dtype("<u4"), 4: np.dtype("<u8")
}


class BandKeys:
    """Maps a signature to its bucket keys, one per band of ``rows`` 16-bit values."""

    def __init__(self, bands: int, rows: int, salt: int) -> None:
        if not 1 <= rows <= 4:
            raise ValueError(f"band rows must be 1..4 (16-bit values in a 64-bit key), got {rows}")
        self.bands = bands
        self.rows = rows
        self._shifts = (np.arange(rows, dtype=np.uint64) * np.uint64(16))[None, :]
        numbers = np.arange(1 + salt * bands, 1 + (salt + 1) * bands, dtype=np.uint64)
        with np.errstate(over="ignore"):
            self._salts = numbers * _BAND_SALT

    @classmethod
    def joined(cls, first: BandKeys, second: BandKeys) -> BandKeys:
        """Keys of ``first``'s values followed by ``second``'s, in one pass (same rows)."""
        if first.rows != second.rows:
            raise ValueError("only band keys with the same rows can be joined")
        keys = cls(first.bands + second.bands, first.rows, salt=0)
        keys._salts = np.concatenate((first._salts, second._salts))
        return keys

    def __call__(self, values: U16Array) -> list[int]:
        used = values[: self.bands * self.rows]
        if self.rows in _VIEWS and used.dtype == np.dtype("<u2") and used.flags.c_contiguous:
            return (used.view(_VIEWS[self.rows]).astype(np.uint64) ^ self._salts).tolist()
        return self.matrix(values[None, :])[0].tolist()

    def matrix(self, values: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint64]:
        """Keys of many signatures at once: one row of ``bands`` keys per row of ``values``."""
        used = np.ascontiguousarray(values[:, : self.bands * self.rows], dtype="<u2")
        if self.rows in _VIEWS:  # the band's values side by side are one little-endian word
            packed = used.view(_VIEWS[self.rows]).astype(np.uint64)
        else:
            grid = used.astype(np.uint64).reshape(len(used), self.bands, self.rows)
            packed = np.bitwise_or.reduce(grid << self._shifts[None, :, :], axis=2)
        return packed ^ self._salts


class BandIndex:
    """LSH buckets: band key -> id (or list of ids)."""

    def __init__(self) -> None:
        self._buckets: dict[int, str | list[str]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def clear(self) -> None:
        self._buckets.clear()

    def add(self, article_id: str, keys: list[int]) -> None:
        self.add_and_match(article_id, keys)

    def _held(self, keys: list[int]) -> Iterator[tuple[int, str | list[str]]]:
        """(key, what its bucket holds) for the keys that have a bucket."""
        buckets = self._buckets
        for key in keys:
            held = buckets.get(key)
            if held is not None:
                yield key, held

    def remove(self, article_id: str, keys: list[int]) -> None:
        buckets = self._buckets
        for key, held in self._held(keys):
            if isinstance(held, str):
                if held == article_id:
                    del buckets[key]
            elif article_id in held:
                held.remove(article_id)
                if len(held) == 1:
                    buckets[key] = held[0]

    def add_and_match(self, article_id: str, keys: list[int]) -> Counter[str]:
        """Add ``article_id`` under ``keys``; return the ids already in its buckets, each with
        the number of buckets shared (more shared bands, more similar)."""
        buckets = self._buckets
        # One pass in C: a new key gets the id, a taken one answers with what it holds.
        held_by_key = list(map(buckets.setdefault, keys, repeat(article_id)))
        if held_by_key.count(article_id) == len(keys):
            return Counter()  # most articles: every key opened a new bucket
        taken = {key: held for key, held in zip(keys, held_by_key, strict=True)
                 if held is not article_id}
        shared: list[str] = []  # one id per shared bucket, counted in C at the end
        for key in set(taken):  # (the order the previous set intersection gave)
            held = taken[key]
            if isinstance(held, str):
                if held != article_id:
                    shared.append(held)
                    buckets[key] = [held, article_id]
            elif article_id not in held:
                shared += held
                held.append(article_id)
        return Counter(shared)

    def candidates(self, keys: list[int]) -> set[str]:
        found: set[str] = set()
        for _, held in self._held(keys):
            if isinstance(held, str):
                found.add(held)
            else:
                found.update(held)
        return found


class ExpiryQueue:
    """Entries by event time, oldest first (a min-heap; stale items are skipped by the caller)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def clear(self) -> None:
        self._heap.clear()

    def push(self, event_time: float, article_id: str) -> None:
        heapq.heappush(self._heap, (event_time, article_id))

    def rebuild(self, items: list[tuple[float, str]]) -> None:
        heapq.heapify(items)
        self._heap = items

    def pop_older_than(self, cutoff: float) -> list[tuple[float, str]]:
        """Remove and return every item with event time before ``cutoff``."""
        out: list[tuple[float, str]] = []
        heap = self._heap
        while heap and heap[0][0] < cutoff:
            out.append(heapq.heappop(heap))
        return out
