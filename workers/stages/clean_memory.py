"""Per-source memory of the cleaning stage: which lines earlier articles of a source carried, and
their titles, kept so that a replayed article is cleaned exactly as the first time.

Boilerplate repeats across a site's articles ("Continue reading the main story" under every
story); an article's own sentences do not. :class:`SourceMemory` answers, for an article at a
**position** ``(partition, offset)`` of the input topic, "how many earlier articles of this source
carried this line" (capped at 3: the features ask for 1+ and 3+) and "how much of this line is
the title of another earlier article of the source", in any ``MutableMapping[str, bytes]``: a
plain dict in tests and in the eval, a Faust table in the worker.

**Replay safety.** Under at-least-once delivery an article is processed again after a crash,
against a memory that already holds it and the articles after it. So the memory answers only
from articles *strictly before* the asking position in the same partition (a partition is read
in offset order, and a replay reads the same offsets in the same order again), and recording is
idempotent: a line keeps the positions of the first articles that carried it (at most 3), a
title is kept with its position, and recording the same position twice changes nothing. Nothing
is evicted by later articles either: the memory is cut into **generations** of ``window``
offsets of a partition; an article at offset ``o`` reads generations ``o // window - 1`` and
``o // window``, a generation is append-only (at most ``max_lines`` distinct lines and
``max_titles`` titles; later ones are not admitted, deterministically), and a generation is
dropped only when a generation three newer is written. Hence: **an article replayed fewer than
``window`` offsets behind the furthest offset recorded gets exactly the answers of its first
time** (the unit tests replay sequences to check it). A longer replay (a worker that did not
commit for ``window`` messages of a partition) may see its older generation gone.

The memory is per partition: a source's articles spread over the partitions (the raw topic is
keyed by article id), and each partition learns its own copy of the source's boilerplate. That
also keeps every key on the changelog partition of the events that write it, so a rebalance
hands a partition's memory over whole.

Keys (``<p>`` partition, ``<g>`` generation, ``<c>`` chunk; the source last, it may contain
``:``). A generation is stored in **chunks** of its admission order, so that recording an article
rewrites only the chunks it changed (the newest, and those holding lines that gained an offset),
not the whole generation: a few KB per article on the changelog instead of the generation's up
to ~65 KB (docs/cleaning.md, "Per-source memory"):

* ``linechunk:<p>:<g>:<c>:<source>``: lines ``c * 64`` to ``c * 64 + 63`` in order of admission:
  ``n`` (4-byte little-endian), the ``n`` 8-byte blake2b hashes of the line keys, then ``3n``
  4-byte little-endian offsets within the generation (the first three articles that carried each
  line, ascending, 0xFFFFFFFF unused);
* ``titlechunk:<p>:<g>:<c>:<source>``: titles ``c * 32`` to ``c * 32 + 31``, UTF-8, one per line:
  its offset within the generation, then its content words, space-separated, in offset order;
* ``gens:<p>:<source>``: the generations held, 4-byte little-endian each, ascending.

A generation is read as its chunks ``0, 1, ...`` up to the first one missing or not full (a
chunk after one that is not full was written by a pass whose earlier write was lost; the replay
of that pass writes it again, the same).
"""

from __future__ import annotations

import hashlib
import struct
import sys
import threading
from array import array
from collections.abc import Callable, Iterable, MutableMapping
from typing import TypeVar

Position = tuple[int, int]  # (partition, offset) of the article in the input topic
_GenKey = tuple[int, int, str]  # (partition, generation, source) of a stored generation

_N = struct.Struct("<I")
_UNUSED = 0xFFFFFFFF
_SLOTS = 3  # positions kept per line: "seen in 1+ / 3+ earlier articles"
_KEEP_GENERATIONS = 3  # the two an article reads, and one more for replays across a boundary
LINE_CHUNK = 64  # lines per stored chunk of a generation (~1.3 KB)
TITLE_CHUNK = 32  # titles per stored chunk (~1.5 KB)


def line_hash(key: str) -> bytes:
    """A stable 8-byte hash of a line key."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()


def _le(values: array) -> bytes:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _from_le(typecode: str, data: bytes) -> array:
    values = array(typecode)
    values.frombytes(data[: len(data) - len(data) % values.itemsize])
    if sys.byteorder != "little":
        values.byteswap()
    return values


class _LineGen:
    """One generation of a source's lines: append-only, with the first offsets per line; kept
    as chunks of ``LINE_CHUNK`` lines in order of admission (``chunks``: the stored values)."""

    __slots__ = ("chunks", "dirty", "hashes", "index", "pos")

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks: list[bytes] = []
        self.dirty: set[int] = set()  # chunks changed since they were last stored
        self.hashes = bytearray()
        self.index: dict[bytes, int] = {}
        self.pos = array("I")
        for data in chunks:
            if len(data) < _N.size:
                break
            (n,) = _N.unpack_from(data)
            if n > LINE_CHUNK or len(data) != _N.size + (8 + 4 * _SLOTS) * n:
                break  # not ours (or truncated): the chunks read so far stand
            end = _N.size + 8 * n
            first = len(self.index)
            self.hashes += data[_N.size:end]
            self.index.update((bytes(data[_N.size + 8 * i:_N.size + 8 * i + 8]), first + i)
                              for i in range(n))
            self.pos.extend(_from_le("I", data[end:]))
            self.chunks.append(data)
            if n < LINE_CHUNK:
                break  # the last chunk

    def count(self, h: bytes, before: int) -> int:
        """How many of the kept offsets of line ``h`` are below ``before``."""
        i = self.index.get(h)
        if i is None:
            return 0
        pos = self.pos
        i *= _SLOTS
        return (pos[i] < before) + (pos[i + 1] < before) + (pos[i + 2] < before)

    def add(self, h: bytes, at: int, cap: int) -> None:
        """Record that the article at offset ``at`` carries line ``h`` (marks its chunk dirty
        when that changed anything)."""
        i = self.index.get(h)
        if i is None:
            if len(self.index) >= cap:
                return  # full: later lines are not admitted (nothing is ever evicted)
            i = self.index[h] = len(self.index)
            self.hashes += h
            self.pos.extend((at, _UNUSED, _UNUSED))
            self.dirty.add(i // LINE_CHUNK)
            return
        j = i * _SLOTS
        old = self.pos[j:j + _SLOTS]
        if at in old or old[-1] < at:
            return  # a replay, or a line already seen by three earlier articles
        self.pos[j:j + _SLOTS] = array("I", sorted([*old, at])[:_SLOTS])
        self.dirty.add(i // LINE_CHUNK)

    def encode(self, c: int) -> bytes:
        """Chunk ``c`` as stored."""
        first = c * LINE_CHUNK
        last = min(len(self.index), first + LINE_CHUNK)
        return (_N.pack(last - first) + bytes(self.hashes[first * 8:last * 8])
                + _le(self.pos[first * _SLOTS:last * _SLOTS]))


class _TitleGen:
    """One generation of a source's titles, with an inverted index (word -> title ordinals);
    kept as chunks of ``TITLE_CHUNK`` titles in order of admission (``chunks``: the stored
    values)."""

    __slots__ = ("at", "chunks", "dirty", "held", "lines", "words")

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks: list[bytes] = []
        self.dirty: set[int] = set()
        self.lines: list[str] = []
        self.at: list[int] = []  # offset of each title, ascending
        self.held: set[int] = set()
        self.words: dict[str, list[int]] = {}
        for data in chunks:
            parsed: list[tuple[int, list[str], str]] = []
            for line in data.decode("utf-8", "replace").split("\n"):
                offset, _, words = line.partition(" ")
                if offset.isdigit() and words:
                    parsed.append((int(offset), words.split(), line))
            if not parsed or len(parsed) > TITLE_CHUNK:
                break  # not ours: the chunks read so far stand
            for title in parsed:
                self._append(*title)
            self.chunks.append(data)
            if len(parsed) < TITLE_CHUNK:
                break  # the last chunk

    def _append(self, at: int, words: Iterable[str], line: str) -> None:
        ordinal = len(self.at)
        self.at.append(at)
        self.held.add(at)
        self.lines.append(line)
        for w in words:
            self.words.setdefault(w, []).append(ordinal)

    def add(self, at: int, words: list[str], cap: int) -> None:
        if len(self.at) >= cap or at in self.held:
            return
        self.dirty.add(len(self.at) // TITLE_CHUNK)
        self._append(at, words, f"{at} {' '.join(words)}")

    def hits(self, words: Iterable[str], before: int, into: dict[tuple[int, int], int],
             gen: int) -> None:
        at = self.at
        for w in words:
            for i in self.words.get(w, ()):
                if at[i] < before:
                    into[gen, i] = into.get((gen, i), 0) + 1

    def encode(self, c: int) -> bytes:
        """Chunk ``c`` as stored."""
        return "\n".join(self.lines[c * TITLE_CHUNK:(c + 1) * TITLE_CHUNK]).encode("utf-8")


_G = TypeVar("_G", _LineGen, _TitleGen)


class SourceMemory:
    """Per-partition, per-source line offsets and titles over a bytes mapping (module doc)."""

    def __init__(self, store: MutableMapping[str, bytes] | None = None, max_lines: int = 2000,
                 max_titles: int = 500, window: int = 2000) -> None:
        """``max_lines``/``max_titles``: per source and generation; ``window``: offsets of a
        partition per generation (replays up to this far back are exact)."""
        if window < 1 or window >= _UNUSED:
            raise ValueError("window must be between 1 and 2**32 - 2 offsets")
        self.store: MutableMapping[str, bytes] = {} if store is None else store
        self.max_lines = max_lines
        self.max_titles = max_titles
        self.window = window
        # decoded copies of the generations last read, by (partition, generation, source),
        # reused while their stored chunks are the same
        self._lines: dict[_GenKey, _LineGen] = {}
        self._titles: dict[_GenKey, _TitleGen] = {}
        self._lock = threading.Lock()
        self._next = 0  # offset handed out by next_position()

    def next_position(self) -> Position:
        """A position after every one handed out so far, in partition 0 (for callers that are
        not reading a topic: the eval, the trainer, the bench, tests)."""
        with self._lock:
            self._next += 1
            return 0, self._next - 1

    # --- reading ---------------------------------------------------------------------------
    def _gens(self, at: Position) -> tuple[int, int, int]:
        partition, offset = at
        g, rel = divmod(offset, self.window)
        return partition, g, rel

    def _line_gen(self, key: _GenKey) -> _LineGen | None:
        return self._parsed(key, "linechunk", self._lines, _LineGen)

    def _title_gen(self, key: _GenKey) -> _TitleGen | None:
        return self._parsed(key, "titlechunk", self._titles, _TitleGen)

    def _parsed(self, key: _GenKey, kind: str, cache: dict[_GenKey, _G],
                parse: Callable[[list[bytes]], _G]) -> _G | None:
        """The stored generation ``key`` from its chunks, parsed again only when a stored chunk
        is not the one parsed."""
        get = self.store.get
        gen = cache.get(key)
        # reused when the chunks parsed are still stored, and no chunk follows them
        if gen is not None and (held := gen.chunks) \
                and all((data := get(_chunk_key(kind, key, c))) is held[c] or data == held[c]
                        for c in range(len(held))) \
                and get(_chunk_key(kind, key, len(held))) is None:
            return gen
        chunks: list[bytes] = []
        while (data := get(_chunk_key(kind, key, len(chunks)))) is not None:
            chunks.append(data)
        if not chunks:
            cache.pop(key, None)
            return None
        gen = cache[key] = parse(chunks)
        return gen

    def _store_dirty(self, gen: _LineGen | _TitleGen, kind: str, key: _GenKey) -> None:
        """Write the chunks of ``gen`` that changed, in order."""
        for c in sorted(gen.dirty):
            data = gen.encode(c)
            self.store[_chunk_key(kind, key, c)] = data
            if c < len(gen.chunks):
                gen.chunks[c] = data
            else:
                gen.chunks.append(data)
        gen.dirty.clear()

    def counter(self, source: str, at: Position) -> LineCounter:
        """A function line key -> earlier articles of ``source`` carrying it (0-3), for the
        article at ``at``; read once per article."""
        p, g, rel = self._gens(at)
        cur = self._line_gen((p, g, source))
        prev = self._line_gen((p, g - 1, source)) if g else None
        return LineCounter(cur, prev, rel, self.window)

    def count(self, source: str, key: str, at: Position) -> int:
        """How many articles of ``source`` before ``at`` carried the line (at most 3 per
        generation)."""
        return self.counter(source, at)(key)

    def title_overlap(self, source: str, words: frozenset[str], at: Position) -> float:
        """The largest share of ``words`` found in one title of an article of ``source`` before
        ``at``."""
        if not words:
            return 0.0
        p, g, rel = self._gens(at)
        hits: dict[tuple[int, int], int] = {}
        for gen, before in ((g - 1, self.window), (g, rel)):
            if gen >= 0 and (titles := self._title_gen((p, gen, source))):
                titles.hits(words, before, hits, gen)
        return max(hits.values(), default=0) / len(words)

    # --- writing ---------------------------------------------------------------------------
    def record(self, source: str, line_keys: Iterable[str], title_words: Iterable[str],
               at: Position) -> None:
        """Record the article at ``at``: each distinct line once, and its title. Idempotent:
        recording the same position again changes nothing."""
        with self._lock:
            self._record(source, line_keys, title_words, at)

    def _record(self, source: str, line_keys: Iterable[str], title_words: Iterable[str],
                at: Position) -> None:
        p, g, rel = self._gens(at)
        self._open_generation(source, p, g)
        key = (p, g, source)
        lines = self._line_gen(key) or _LineGen([])
        for k in dict.fromkeys(line_keys):  # distinct, in order
            lines.add(line_hash(k), rel, self.max_lines)
        if lines.dirty:
            self._store_dirty(lines, "linechunk", key)
            self._lines[key] = lines
        words = sorted(set(title_words))
        if words:
            titles = self._title_gen(key) or _TitleGen([])
            titles.add(rel, words, self.max_titles)
            if titles.dirty:
                self._store_dirty(titles, "titlechunk", key)
                self._titles[key] = titles

    def _open_generation(self, source: str, p: int, g: int) -> None:
        """Note generation ``g`` of the source; drop the ones three or more older."""
        key = f"gens:{p}:{source}"
        held = list(_from_le("I", self.store.get(key, b"")))
        if g in held:
            return
        keep = [x for x in held if x > g - _KEEP_GENERATIONS]
        for old in held:
            if old <= g - _KEEP_GENERATIONS:
                dropped = (p, old, source)
                for kind in ("linechunk", "titlechunk"):
                    c = 0
                    while (chunk := _chunk_key(kind, dropped, c)) in self.store:
                        del self.store[chunk]
                        c += 1
                self._lines.pop(dropped, None)
                self._titles.pop(dropped, None)
        self.store[key] = _le(array("I", sorted({*keep, g})))


def _chunk_key(kind: str, gen: _GenKey, c: int) -> str:
    """The store key of chunk ``c`` of generation ``gen`` (module doc)."""
    p, g, source = gen
    return f"{kind}:{p}:{g}:{c}:{source}"


class LineCounter:
    """Line key -> earlier articles of one source carrying it, for one article (0-6)."""

    __slots__ = ("before", "cur", "prev", "window")

    def __init__(self, cur: _LineGen | None, prev: _LineGen | None, before: int,
                 window: int) -> None:
        self.cur, self.prev, self.before, self.window = cur, prev, before, window

    def __call__(self, key: str) -> int:
        if self.cur is None and self.prev is None:
            return 0
        h = line_hash(key)
        n = self.cur.count(h, self.before) if self.cur is not None else 0
        return n + (self.prev.count(h, self.window) if self.prev is not None else 0)
