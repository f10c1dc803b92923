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

from spacy.lang.en.stop_words import STOP_WORDS

Vector = dict[int, float]
# (canonical name, qid or None, OntoNotes label, salience), as tagging produced them.
EntityTuple = tuple[str, str | None, str, float]

_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\b[a-z]*[0-9][a-z0-9]*")
_YEAR = re.compile(r"(19|20)\d\d")
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


def words(text: str) -> list[str]:
    """Content words: lower-cased, stop words and one-character tokens dropped."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOP]


def numbers(hasher: Hasher, title: str | None, text: str) -> tuple[Counter[int], Counter[int]]:
    """Hashed tokens holding a digit (counts, ages, scores...), and years (1900-2099) apart."""
    found = Counter(_NUMBER.findall(f"{title or ''} {text}".lower()))
    other: Counter[int] = Counter()
    years: Counter[int] = Counter()
    for token, n in found.items():
        if _YEAR.fullmatch(token):
            years[hasher("\x03" + token)] += n
        else:
            other[hasher("\x02" + token)] += n
    return other, years


def term_counts(hasher: Hasher, title: str | None, text: str, title_weight: int) -> Counter[int]:
    """Hashed word frequencies of an article; title words count ``title_weight`` times."""
    found = Counter(words(text))
    if title and title_weight:
        for word in words(title):
            found[word] += title_weight
    return Counter({hasher(word): n for word, n in found.items()})


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

    def weigh(self, counts: Counter[int] | dict[int, float], sublinear: bool = True) -> Vector:
        """L2-normalised TF-IDF, ``idf = ln((N + 1) / (df + 1)) + 1``."""
        n = self.docs + 1
        get = self.counts.get
        log = math.log
        vector = {
            term: ((1.0 + log(tf)) if sublinear and tf >= 1 else tf)
            * (log(n / (get(term, 0) + 1)) + 1.0)
            for term, tf in counts.items()
        }
        return normalised(vector)


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
