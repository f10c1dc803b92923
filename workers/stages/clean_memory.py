"""Per-source memory of the cleaning stage: which lines recent articles of a source carried, and
their titles.

Boilerplate repeats across a site's articles ("Continue reading the main story" under every
story); an article's own sentences do not. :class:`SourceMemory` keeps, per source, a bounded
counter of line hashes (the ``max_lines`` most recently seen distinct lines, with the number of
articles that carried each) and the ``max_titles`` most recent titles (their content words), in
any ``MutableMapping[str, bytes]``: a plain dict in tests and in the eval, a Faust table in the
worker (so it survives restarts and follows the partition of the source).

Keys are ``"lines:<source>"`` and ``"titles:<source>"``; values are bytes:

* lines: ``n`` (4-byte little-endian), then the ``n`` 8-byte blake2b hashes of the line keys,
  then their ``n`` counts (4-byte little-endian unsigned), least recently seen first;
* titles: UTF-8, one title per line (its content words, space-separated), oldest first.

Everything is deterministic for a given state: hashes are blake2b (not Python's salted
``hash``), eviction is least-recently-seen, and the cleaner reads the state before it decides
and records the article after.
"""

from __future__ import annotations

import hashlib
import struct
import sys
import threading
from array import array
from collections import deque
from collections.abc import Iterable, MutableMapping

_N = struct.Struct("<I")
_MAX_COUNT = 2**32 - 1


def _encode(counts: dict[bytes, int]) -> bytes:
    values = array("I", counts.values())  # counts are capped where they are incremented
    if sys.byteorder != "little":
        values.byteswap()
    return _N.pack(len(counts)) + b"".join(counts) + values.tobytes()


def _decode(data: bytes) -> dict[bytes, int]:
    if len(data) < _N.size:
        return {}
    (n,) = _N.unpack_from(data)
    if len(data) != _N.size + 12 * n:
        return {}  # not ours (or truncated): start afresh rather than misread
    hashes = data[_N.size: _N.size + 8 * n]
    values = array("I")
    values.frombytes(data[_N.size + 8 * n:])
    if sys.byteorder != "little":
        values.byteswap()
    return {hashes[i * 8: i * 8 + 8]: c for i, c in enumerate(values)}


def line_hash(key: str) -> bytes:
    """A stable 8-byte hash of a line key."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()


class _TitleIndex:
    """Recent titles of one source with an inverted index (word -> title ordinals), kept in step
    with the stored bytes so that a new title costs one insertion, not a rebuild."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.lines: deque[str] = deque()
        self.first = 0  # ordinal of lines[0]
        self.words: dict[str, list[int]] = {}

    def add(self, title: frozenset[str], line: str | None = None) -> None:
        ordinal = self.first + len(self.lines)
        self.lines.append(" ".join(sorted(title)) if line is None else line)
        for w in title:
            self.words.setdefault(w, []).append(ordinal)

    def drop_oldest(self) -> None:
        for w in self.lines.popleft().split():
            ordinals = self.words.get(w)
            if ordinals and ordinals[0] == self.first:
                ordinals.pop(0)
                if not ordinals:
                    del self.words[w]
        self.first += 1


class SourceMemory:
    """Bounded per-source line counts and recent titles over a bytes mapping."""

    def __init__(self, store: MutableMapping[str, bytes] | None = None, max_lines: int = 2000,
                 max_titles: int = 200) -> None:
        self.store: MutableMapping[str, bytes] = {} if store is None else store
        self.max_lines = max_lines
        self.max_titles = max_titles
        # decoded copy of the last value read per source (reused while the stored bytes match)
        self._cache: dict[str, tuple[bytes, dict[bytes, int]]] = {}
        self._title_cache: dict[str, _TitleIndex] = {}
        self._lock = threading.Lock()

    # --- reading ---------------------------------------------------------------------------
    def line_counts(self, source: str) -> dict[bytes, int]:
        """hash -> number of earlier articles of ``source`` that carried the line."""
        data = self.store.get(f"lines:{source}", b"")
        cached = self._cache.get(source)
        if cached is not None and (cached[0] is data or cached[0] == data):
            return cached[1]
        counts = _decode(data)
        self._cache[source] = (data, counts)
        return counts

    def count(self, source: str, key: str) -> int:
        """How many earlier articles of ``source`` carried the line with this key."""
        return self.line_counts(source).get(line_hash(key), 0)

    def titles(self, source: str) -> list[frozenset[str]]:
        """Content words of the recent titles of ``source``, oldest first."""
        data = self.store.get(f"titles:{source}", b"")
        return [frozenset(t.split()) for t in data.decode("utf-8", "replace").split("\n") if t]

    def title_overlap(self, source: str, words: frozenset[str]) -> float:
        """The largest share of ``words`` found in one recent title of ``source``."""
        if not words:
            return 0.0
        index = self._title_index(source)
        hits: dict[int, int] = {}
        for w in words:
            for i in index.words.get(w, ()):
                hits[i] = hits.get(i, 0) + 1
        return max(hits.values(), default=0) / len(words)

    def _title_index(self, source: str) -> _TitleIndex:
        data = self.store.get(f"titles:{source}", b"")
        index = self._title_cache.get(source)
        if index is None or not (index.data is data or index.data == data):
            index = _TitleIndex(data)
            for title in self.titles(source):
                index.add(title)
            self._title_cache[source] = index
        return index

    # --- writing ---------------------------------------------------------------------------
    def record(self, source: str, line_keys: Iterable[str], title_words: Iterable[str]) -> None:
        """Count each distinct line of one article once and remember its title."""
        with self._lock:
            self._record(source, line_keys, title_words)

    def _record(self, source: str, line_keys: Iterable[str], title_words: Iterable[str]) -> None:
        counts = self.line_counts(source)  # the cached dict, replaced below with the new bytes
        for key in dict.fromkeys(line_keys):  # distinct, in order
            h = line_hash(key)
            counts[h] = min(counts.pop(h, 0) + 1, _MAX_COUNT)  # re-inserted: most recent
        while len(counts) > self.max_lines:
            del counts[next(iter(counts))]  # the least recently seen line
        data = _encode(counts)
        self.store[f"lines:{source}"] = data
        self._cache[source] = (data, counts)
        words = sorted(set(title_words))
        if words:
            index = self._title_index(source)
            index.add(frozenset(words), " ".join(words))
            while len(index.lines) > self.max_titles:
                index.drop_oldest()
            index.data = "\n".join(index.lines).encode("utf-8")
            self.store[f"titles:{source}"] = index.data
