"""Features for story clustering: hashed terms, online document frequencies, sparse vectors.

Terms are lower-cased words of the title and text (English stop words and one-character tokens
dropped), hashed to 32-bit CRC values so that the state stores 4 bytes per term and is the same
in every process (Python's ``hash`` is salted). Salient entities become terms of their own
(``qid`` or ``label:name``), in a separate vector. Document frequencies are counted online over
the articles the clusterer holds (``DocFreq``): an article's terms are added when it is decided
and removed when it expires, so the statistics only ever come from articles already seen.

A vector is a plain ``dict[int, float]``; article vectors are L2-normalised TF-IDF with
sublinear term frequency.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spacy.lang.en.stop_words import STOP_WORDS

Vector = dict[int, float]
# (canonical name, qid or None, OntoNotes label, salience), as tagging produced them.
EntityTuple = tuple[str, str | None, str, float]

_WORD = re.compile(r"[a-z0-9]+")
_YEAR = re.compile(r"(?:19|20)[0-9][0-9]")
_STOP = frozenset(w.lower() for w in STOP_WORDS) | {"said", "says", "told", "s", "t"}
# Entity labels that identify an event's who and where; dates and quantities are left to text.
ENTITY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "PRODUCT"})
_GROUPS = {"PERSON": "P", "GPE": "L", "LOC": "L", "FAC": "L", "ORG": "O"}
_CACHE_LIMIT = 500_000


class Hasher:
    """Token -> 32-bit hash, memoised (the cache is cleared when it grows past a limit)."""

    def __init__(self) -> None:
        self._cache: dict[str, int] = {}

    def __call__(self, token: str) -> int:
        value = self._cache.get(token)
        if value is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            value = self._cache[token] = zlib.crc32(token.encode())
        return value

    def counts(self, found: dict[str, int], prefix: str = "") -> dict[int, int]:
        """``found`` with each token (``prefix`` + token) replaced by its hash."""
        cache = self._cache
        if len(cache) + len(found) >= _CACHE_LIMIT:
            cache.clear()
        out: dict[int, int] = {}
        for token, n in found.items():
            key = prefix + token if prefix else token
            value = cache.get(key)
            if value is None:
                value = cache[key] = zlib.crc32(key.encode())
            out[value] = out.get(value, 0) + n
        return out


def _content_counts(tokens: dict[str, int]) -> dict[str, int]:
    """Content words: stop words and one-character tokens dropped."""
    return {w: n for w, n in tokens.items() if len(w) > 1 and w not in _STOP}


@dataclass(frozen=True, slots=True)
class Terms:
    """An article's hashed term counts, from one tokenising pass over its title and text.

    ``words``: content words, title words counted ``title_weight`` extra times; ``title``: the
    title's content words alone; ``numbers``: tokens holding a digit (counts, ages, scores), and
    ``years`` (1900-2099) apart.
    """

    words: dict[int, int]
    title: dict[int, int]
    numbers: dict[int, int]
    years: dict[int, int]


def article_terms(hasher: Hasher, title: str | None, text: str, title_weight: int) -> Terms:
    """The :class:`Terms` of an article."""
    tokens = Counter(_WORD.findall(text.lower()))
    title_tokens = Counter(_WORD.findall(title.lower())) if title else Counter()
    found = _content_counts(tokens)
    title_found = _content_counts(title_tokens)
    if title_weight:
        for word, n in title_found.items():
            found[word] = found.get(word, 0) + title_weight * n
    tokens.update(title_tokens)
    other: dict[str, int] = {}
    years: dict[str, int] = {}
    for token, n in tokens.items():
        if not token.isalpha():
            (years if _YEAR.fullmatch(token) else other)[token] = n
    return Terms(hasher.counts(found), hasher.counts(title_found),
                 hasher.counts(other, "\x02"), hasher.counts(years, "\x03"))


def entity_key(name: str, qid: str | None, label: str) -> str:
    """The identity of an entity across articles: its QID, else label and canonical name."""
    return qid if qid else f"{label}:{name.lower()}"


def entity_group(label: str) -> str:
    """P(erson), L(ocation), O(rganisation) or X (other who/where labels)."""
    return _GROUPS.get(label, "X")


def entity_weights(hasher: Hasher, entities: Iterable[EntityTuple]
                   ) -> tuple[dict[int, float], dict[int, str]]:
    """Hashed entity keys with their summed salience (who/where labels only), and groups."""
    out: dict[int, float] = {}
    groups: dict[int, str] = {}
    for name, qid, label, salience in entities:
        if label in ENTITY_LABELS and salience > 0:
            term = hasher("\x01" + entity_key(name, qid, label))
            out[term] = out.get(term, 0.0) + float(salience)
            groups[term] = entity_group(label)
    return out, groups


class DocFreq:
    """Online document frequencies over the articles currently held."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.docs = 0

    def add(self, terms: Iterable[int]) -> None:
        counts = self.counts
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
        self.docs += 1

    def remove(self, terms: Iterable[int]) -> None:
        counts = self.counts
        for term in terms:
            left = counts.get(term, 0) - 1
            if left > 0:
                counts[term] = left
            else:
                counts.pop(term, None)
        self.docs = max(0, self.docs - 1)

    def weigh(self, counts: dict[int, int] | dict[int, float], sublinear: bool = True) -> Vector:
        """L2-normalised TF-IDF, ``idf = ln((N + 1) / (df + 1)) + 1``."""
        log_n = math.log(self.docs + 1) + 1.0
        get = self.counts.get
        vector = {
            term: (_sublinear(tf) if sublinear else tf) * (log_n - _log_int(get(term, 0) + 1))
            for term, tf in counts.items()
        }
        return normalised(vector)


_LOGS = [0.0, 0.0] + [math.log(i) for i in range(2, 4096)]


def _log_int(i: int) -> float:
    """``ln(i)`` for a positive integer, from a table for the common small ones."""
    return _LOGS[i] if i < 4096 else math.log(i)


def _sublinear(tf: float) -> float:
    """``1 + ln(tf)`` for ``tf >= 1`` (term counts), ``tf`` itself below."""
    if tf < 1:
        return tf
    if isinstance(tf, int):
        return 1.0 + _log_int(tf)
    return 1.0 + math.log(tf)


def normalised(vector: Vector) -> Vector:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {t: v / norm for t, v in vector.items()} if norm else {}


def dot(a: Vector, b: Vector) -> float:
    """Sparse dot product over the shared terms (the key intersection runs in C)."""
    if not a or not b:
        return 0.0
    return sum([a[t] * b[t] for t in a.keys() & b.keys()])


def norm(vector: Vector) -> float:
    return math.sqrt(sum(v * v for v in vector.values()))


def top(vector: Vector, k: int) -> Vector:
    """The ``k`` heaviest entries."""
    if len(vector) <= k:
        return dict(vector)
    items = sorted(vector.items(), key=lambda kv: kv[1], reverse=True)[:k]
    return dict(items)


def add_into(total: Vector, vector: Vector, scale: float = 1.0) -> None:
    for term, value in vector.items():
        total[term] = total.get(term, 0.0) + scale * value


def heaviest(vector: Vector, k: int) -> Sequence[int]:
    return [t for t, _ in sorted(vector.items(), key=lambda kv: kv[1], reverse=True)[:k]]
