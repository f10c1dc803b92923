"""Sketches of article text for deduplication, and their compact packed form.

A sketch holds what dedup needs to know about one article, never the text itself:

* ``exact`` - a 64-bit BLAKE2b hash of the normalised token sequence (exact copies);
* ``size`` - the number of distinct word shingles (for the containment estimate);
* ``signature`` - a MinHash signature over the word ``k``-shingles, each value cut to its low 16
  bits (b-bit minwise hashing: a random collision costs 1/65536 of a match, far below the
  sampling error of the estimate), so 128 permutations take 256 bytes;
* ``lead`` - a small MinHash over the shingles of the first words only. Teasers, truncations,
  updates and wire edits keep the lead of a story while their whole-text Jaccard can be low, so
  the lead sketch finds those candidates that whole-text banding at low Jaccard would miss.

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

import numpy as np
import numpy.typing as npt
from rensa import RMinHash

_WORD = re.compile(r"\w+")
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

# Entry layout: tag, event time, distinct shingles, exact hash, then lead and signature values.
_UNIQUE = 1
_SEEN = 2  # an id seen as a duplicate: kept only to recognise its redelivery
_HEAD = struct.Struct("<BdIQ")
_SEEN_ENTRY = struct.Struct("<Bd")

U16Array = npt.NDArray[np.uint16]


@dataclass(frozen=True, slots=True)
class Sketch:
    """The compact description of one article (see the module docstring)."""

    exact: int
    size: int
    signature: U16Array
    lead: U16Array


@dataclass(frozen=True, slots=True)
class Entry:
    """One decoded state entry: a unique article's sketch, or a seen id (``sketch is None``)."""

    event_time: float
    sketch: Sketch | None


class Sketcher:
    """Turns normalised text into a :class:`Sketch`; built once, holds no per-article state."""

    def __init__(
        self, num_perm: int, shingle_size: int, lead_words: int, lead_perm: int
    ) -> None:
        if not 1 <= shingle_size <= len(_MIX):
            raise ValueError(f"dedup_shingle_size must be 1..{len(_MIX)}, got {shingle_size}")
        self.num_perm = num_perm
        self.shingle_size = shingle_size
        self.lead_words = lead_words
        self.lead_perm = lead_perm
        self.entry_size = _HEAD.size + 2 * (num_perm + lead_perm)

    def tokens(self, text: str) -> list[str]:
        return _WORD.findall(text.casefold())

    def shingle_hashes(self, tokens: list[str]) -> npt.NDArray[np.uint64]:
        """64-bit hashes of the word k-shingles (a text shorter than k is one shingle)."""
        hashed = np.asarray(RMinHash.hash_token_sets([tokens])[0], dtype=np.uint64)
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
        exact = int.from_bytes(
            hashlib.blake2b(" ".join(tokens).encode(), digest_size=8).digest(), "little"
        )
        shingles = self.shingle_hashes(tokens)
        lead_n = max(1, min(len(shingles), self.lead_words - self.shingle_size + 1))
        return Sketch(
            exact=exact,
            size=_distinct(shingles),
            signature=_minhash(shingles, self.num_perm, _SEED_FULL),
            lead=_minhash(shingles[:lead_n], self.lead_perm, _SEED_LEAD),
        )

    def pack(self, event_time: float, sketch: Sketch | None) -> bytes:
        """The state value of an article: its sketch if unique, else only its event time."""
        if sketch is None:
            return _SEEN_ENTRY.pack(_SEEN, event_time)
        head = _HEAD.pack(_UNIQUE, event_time, sketch.size, sketch.exact)
        return head + sketch.lead.tobytes() + sketch.signature.tobytes()

    def unpack(self, value: bytes) -> Entry:
        """Decode a state value; a sketch of another layout (changed settings) is a seen id."""
        if value[0] == _UNIQUE and len(value) == self.entry_size:
            _, event_time, size, exact = _HEAD.unpack_from(value)
            values = np.frombuffer(value, dtype="<u2", offset=_HEAD.size)
            lead, signature = values[: self.lead_perm], values[self.lead_perm :]
            return Entry(event_time, Sketch(exact, size, signature, lead))
        return Entry(_SEEN_ENTRY.unpack_from(value)[1], None)


def _minhash(shingles: npt.NDArray[np.uint64], num_perm: int, seed: int) -> U16Array:
    matrix = RMinHash.digest_matrix_from_flat_token_hashes(
        shingles, [0, len(shingles)], num_perm, seed
    )
    return np.asarray(matrix.to_rows()[0], dtype=np.uint32).astype("<u2")


def _distinct(values: npt.NDArray[np.uint64]) -> int:
    ordered = np.sort(values)
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


def estimate(a: Sketch, b: Sketch) -> tuple[float, float]:
    """Estimated (Jaccard, containment of the smaller shingle set in the larger)."""
    jaccard = float(np.count_nonzero(a.signature == b.signature)) / len(a.signature)
    # |A n B| = J (|A| + |B|) / (1 + J)
    intersection = jaccard * (a.size + b.size) / (1.0 + jaccard)
    return jaccard, min(1.0, intersection / min(a.size, b.size))
