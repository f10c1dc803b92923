"""Sketches of article text for deduplication, and their compact packed form.

A sketch holds what dedup needs to know about one article, never the text itself:

* ``exact`` - a 64-bit BLAKE2b hash of the normalised token sequence (exact copies);
* ``fingerprints`` - a 16-bit fingerprint of every distinct word ``k``-shingle, in text order
  (about two bytes a word). Candidates are verified on these: Jaccard and containment come
  from fingerprint set intersection, which is accurate where a MinHash estimate is not - the
  containment of a 100-shingle teaser in a 350-shingle article, estimated from 128 MinHash
  values, has a standard error near 0.09, the whole width between a distinct story and a copy.
  Articles with more than ``max_fingerprints`` distinct shingles keep a nested sample: level
  ``s`` keeps the fingerprints whose low ``s`` bits are zero, and two sketches are compared at
  the coarser of their levels;
* derived, not stored: a MinHash signature (rensa) of the fingerprints for LSH banding, and a
  small MinHash over the first ``lead_words`` words. Teasers, truncations, updates and wire edits
  keep the lead of a story while their whole-text Jaccard can be low, so the lead bands find
  candidates that whole-text bands at low Jaccard miss.

Normalisation before shingling: the caller's normaliser (entity aliases to canonical names), then
case folding, and words as ``\\w+`` runs, which drops punctuation and collapses whitespace.
Token hashing and MinHash are rensa's (Rust); shingle hashes are a polynomial of token hashes
computed with numpy, so no shingle strings are built.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from rensa import RMinHash

_WORD = re.compile(r"\w+")
# Frequent non-ASCII separators in news text (no-break space, currency, quotes, dashes, ...).
_COMMON_NON_WORD = (
    "\u00a0\u00a3\u20ac\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00ab\u00bb\u2022\u00b7"
)
# ASCII bytes that are not word characters (\w) become spaces, so translate + split is \w+,
# and upper case becomes lower case (the case folding of ASCII).
_ASCII_WORDS = bytes(
    ord(chr(c).lower()) if chr(c).isalnum() or c == 0x5F else 0x20 for c in range(128)
) + bytes(0x20 for _ in range(128))
# Odd 64-bit multipliers (golden ratio / xxhash primes) that mix token hashes into shingle hashes.
_MIX = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0x27D4EB2F165667C5,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x85EBCA77C2B2AE63,
        0x94D049BB133111EB,
    ],
    dtype=np.uint64,
)
_SEED_FULL = 1
_SEED_LEAD = 2

# Entry layout: tag, event time, exact hash, shingle size, sample level, lead length, then the
# lead's fingerprints (only when sampled), then the fingerprints.
_UNIQUE = 3
_SEEN = 2  # an id seen as an exact duplicate: kept only to recognise its redelivery
_HEAD = struct.Struct("<BdQBBH")
_SEEN_ENTRY = struct.Struct("<Bd")

U16Array = npt.NDArray[np.uint16]
U16Matrix = npt.NDArray[np.uint16]  # one row per sketch


@dataclass(frozen=True, slots=True)
class Sketch:
    """The compact description of one article (see the module docstring)."""

    exact: int
    level: int
    fingerprints: U16Array  # distinct, in text order, sampled at ``level``
    lead: U16Array  # the first distinct fingerprints, never sampled


@dataclass(frozen=True, slots=True)
class Entry:
    """One decoded state entry: an article's sketch, or a seen id (``sketch is None``)."""

    event_time: float
    sketch: Sketch | None


class Similarity(NamedTuple):
    """How alike two sketches are."""

    jaccard: float
    containment: float  # of the smaller shingle set in the larger
    smaller: int  # distinct shingles of the smaller set (as compared)
    level: int  # the sample level compared at


class Sketcher:
    """Turns normalised text into a :class:`Sketch`; built once, holds no per-article state."""

    def __init__(
        self, num_perm: int, shingle_size: int, lead_words: int, lead_perm: int,
        max_fingerprints: int,
    ) -> None:
        if not 1 <= shingle_size <= len(_MIX):
            raise ValueError(f"dedup_shingle_size must be 1..{len(_MIX)}, got {shingle_size}")
        self.num_perm = num_perm
        self.shingle_size = shingle_size
        self.lead_shingles = max(1, lead_words - shingle_size + 1)
        self.lead_perm = lead_perm
        self.max_fingerprints = max_fingerprints

    def tokens(self, text: str) -> list[bytes] | list[str]:
        """Case-folded words; as bytes for ASCII text (twice as fast; rensa hashes a str and
        its UTF-8 bytes alike, so both forms give the same sketch)."""
        if text.isascii():
            return text.encode().translate(_ASCII_WORDS).split()
        folded = text.casefold()
        for char in _COMMON_NON_WORD:  # separators either way; this keeps the fast path
            if char in folded:
                folded = folded.replace(char, " ")
        if folded.isascii():
            return folded.encode().translate(_ASCII_WORDS).split()
        return _WORD.findall(folded)

    def shingle_hashes(self, hashed: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        """64-bit hashes of the word k-shingles (a text shorter than k is one shingle)."""
        k = min(self.shingle_size, len(hashed))
        n = len(hashed) - k + 1
        out = hashed[:n] * _MIX[0]
        for j in range(1, k):
            out += hashed[j : j + n] * _MIX[j]
        return out

    def sketch(self, text: str) -> Sketch | None:
        """The sketch of ``text`` (already alias-normalised); None if it has no words."""
        tokens = self.tokens(text)
        if not tokens:
            return None
        token_hashes = RMinHash.hash_token_sets([tokens])[0]
        # fromiter converts rensa's Python ints twice as fast as asarray
        hashed = np.fromiter(token_hashes, dtype=np.uint64, count=len(token_hashes))
        # The exact hash covers the token sequence (as rensa's 64-bit token hashes).
        exact = int.from_bytes(hashlib.blake2b(hashed.tobytes(), digest_size=8).digest(), "little")
        fingerprints = _first_occurrences(
            (self.shingle_hashes(hashed) >> np.uint64(48)).astype(np.uint16)
        )
        lead = fingerprints[: self.lead_shingles]
        level = 0
        while len(fingerprints) > self.max_fingerprints:
            level += 1
            fingerprints = fingerprints[(fingerprints & ((1 << level) - 1)) == 0]
        return Sketch(exact, level, fingerprints, lead)

    def band_values(self, sketch: Sketch) -> U16Array:
        """The whole-text MinHash (``num_perm`` values) followed by the lead MinHash
        (``lead_perm``), cut to 16 bits, for LSH band keys."""
        full = sketch.fingerprints.astype(np.uint64) * _MIX[0]
        # At level 0 the lead is a prefix of the fingerprints: its hashes are a slice.
        lead = (
            full[: len(sketch.lead)] if not sketch.level
            else sketch.lead.astype(np.uint64) * _MIX[0]
        )
        rows = [
            *RMinHash.digest_matrix_from_flat_token_hashes(
                full, [0, len(full)], self.num_perm, _SEED_FULL
            ).to_rows()[0],
            *RMinHash.digest_matrix_from_flat_token_hashes(
                lead, [0, len(lead)], self.lead_perm, _SEED_LEAD
            ).to_rows()[0],
        ]
        return np.array(rows, dtype=np.uint32).astype(np.uint16)

    def band_values_many(self, sketches: list[Sketch]) -> U16Matrix:
        """``band_values`` of many sketches at once, one row each."""
        return np.concatenate(
            (
                _minhash_rows([s.fingerprints for s in sketches], self.num_perm, _SEED_FULL),
                _minhash_rows([s.lead for s in sketches], self.lead_perm, _SEED_LEAD),
            ),
            axis=1,
        )

    def pack(self, event_time: float, sketch: Sketch | None) -> bytes:
        """The state value of an article: its sketch, or only its event time."""
        if sketch is None:
            return _SEEN_ENTRY.pack(_SEEN, event_time)
        head = _HEAD.pack(
            _UNIQUE, event_time, sketch.exact, self.shingle_size, sketch.level, len(sketch.lead)
        )
        # At level 0 the lead is a prefix of the fingerprints and is not stored twice.
        lead = sketch.lead.astype("<u2").tobytes() if sketch.level else b""
        return head + lead + sketch.fingerprints.astype("<u2").tobytes()

    def unpack(self, value: bytes) -> Entry:
        """Decode a state value; an entry of another layout or shingle size is a seen id."""
        if value[0] == _UNIQUE and len(value) >= _HEAD.size:
            return Entry(_HEAD.unpack_from(value)[1], self.unpack_sketch(value))
        return Entry(_SEEN_ENTRY.unpack_from(value)[1], None)

    def unpack_sketch(self, value: bytes) -> Sketch | None:
        """The sketch in a state value; None for a seen id or another layout or shingle size."""
        if value[0] != _UNIQUE or len(value) < _HEAD.size:
            return None
        _, _, exact, shingle_size, level, lead_len = _HEAD.unpack_from(value)
        if shingle_size != self.shingle_size:  # fingerprints of other shingles: not comparable
            return None
        # A read-only view of the value; "<u2" is uint16 itself on little-endian machines.
        values = np.frombuffer(value, dtype="<u2", offset=_HEAD.size)
        return Sketch(exact, level, values[lead_len:] if level else values, values[:lead_len])


def _first_occurrences(values: U16Array) -> U16Array:
    """The distinct values in order of first occurrence (np.unique's index, with less overhead)."""
    if len(values) < 2:
        return values
    order = values.argsort(kind="stable")
    ordered = values[order]
    first = np.empty(len(values), dtype=np.bool_)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    kept = order[first]
    kept.sort()
    return values[kept]


def _minhash_rows(sets: list[U16Array], num_perm: int, seed: int) -> U16Matrix:
    offsets = np.zeros(len(sets) + 1, dtype=np.int64)
    np.cumsum([len(values) for values in sets], out=offsets[1:])
    flat = np.concatenate(sets).astype(np.uint64) * _MIX[0]
    matrix = RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets.tolist(), num_perm, seed)
    return np.asarray(matrix.to_rows(), dtype=np.uint32).astype(np.uint16)


def _sampled(values: U16Array, level: int) -> U16Array:
    return values[(values & ((1 << level) - 1)) == 0] if level else values


def _share(part: U16Array, whole: U16Array) -> float:
    return len(np.intersect1d(part, whole, assume_unique=True)) / len(part) if len(part) else 0.0


def compare(a: Sketch, b: Sketch) -> Similarity:
    """Jaccard and containment of two sketches, at the coarser of their sample levels."""
    level = max(a.level, b.level)
    x, y = _sampled(a.fingerprints, level), _sampled(b.fingerprints, level)
    if not len(x) or not len(y):
        return Similarity(0.0, 0.0, 0, level)
    return _similarity(len(np.intersect1d(x, y, assume_unique=True)), len(x), len(y), level)


def _similarity(shared: int, nx: int, ny: int, level: int) -> Similarity:
    """Jaccard and containment from the shared count of two non-empty fingerprint sets."""
    smaller = min(nx, ny)
    return Similarity(shared / (nx + ny - shared), shared / smaller, smaller, level)


class Probe:
    """One article's sketch to compare with its candidates: the figures of :func:`compare`, from
    a bitmap of its 16-bit fingerprints (one gather per candidate instead of a sort per pair)."""

    def __init__(self, sketch: Sketch) -> None:
        self.sketch = sketch
        self._bitmap: npt.NDArray[np.bool_] | None = None

    def compare(self, other: Sketch) -> Similarity:
        a = self.sketch
        if a.level or other.level:
            return compare(a, other)  # sampled: compared at the coarser level
        x, y = a.fingerprints, other.fingerprints
        if not len(x) or not len(y):
            return Similarity(0.0, 0.0, 0, 0)
        if self._bitmap is None:
            self._bitmap = np.zeros(1 << 16, dtype=np.bool_)
            self._bitmap[x] = True
        return _similarity(int(np.count_nonzero(self._bitmap[y])), len(x), len(y), 0)


def lead_share(a: Sketch, b: Sketch, level: int) -> float:
    """The larger share of either sketch's lead found anywhere in the other."""
    x, y = _sampled(a.fingerprints, level), _sampled(b.fingerprints, level)
    return max(_share(_sampled(a.lead, level), y), _share(_sampled(b.lead, level), x))
