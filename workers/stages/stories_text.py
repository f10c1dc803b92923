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

import functools
import heapq
import importlib
import logging
import math
import re
import struct
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import add, itemgetter, mul, neg, not_, sub, truediv
from types import ModuleType
from typing import Protocol

from spacy.lang.en.stop_words import STOP_WORDS

Vector = dict[int, float]
# (canonical name, qid or None, OntoNotes label, salience), as tagging produced them.
EntityTuple = tuple[str, str | None, str, float]

_WORD = re.compile(r"[a-z0-9]+")
_YEARS = frozenset(str(year) for year in range(1900, 2100))
_STOP = frozenset(w.lower() for w in STOP_WORDS) | {"said", "says", "told", "s", "t"}
# Entity labels that identify an event's who and where; dates and quantities are left to text.
ENTITY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "PRODUCT"})
_GROUPS = {"PERSON": "P", "GPE": "L", "LOC": "L", "FAC": "L", "ORG": "O"}
_CACHE_LIMIT = 500_000


# Tokens that are no content words: stop words and one-character tokens.
_NOT_CONTENT = _STOP | frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
# ASCII characters other than [a-z0-9] -> space: lower-cased ASCII text splits into the tokens
# that ``_WORD`` finds.
_SEPARATORS = str.maketrans({chr(i): " " for i in range(128)
                             if not (chr(i).isdigit() or "a" <= chr(i) <= "z")})


def tokens(text: str) -> list[str]:
    """The lower-cased ``[a-z0-9]+`` tokens of ``text`` (what ``_WORD.findall`` gives, faster:
    every non-ASCII character is a separator for the pattern, so it becomes one here too)."""
    low = text.lower()
    if not low.isascii():
        low = low.encode("ascii", "replace").decode("ascii")
    return low.translate(_SEPARATORS).split()


def crc(found: Iterable[str]) -> list[int]:
    """The 32-bit CRC of each token (the same in every process, unlike ``hash``)."""
    return list(map(zlib.crc32, map(str.encode, found)))


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


@dataclass(frozen=True, slots=True)
class Terms:
    """An article's hashed term counts, from one tokenising pass over its title and text.

    ``words``: content words, title words counted ``title_weight`` extra times; ``title``: the
    title's content words alone; ``numbers``: tokens holding a digit (counts, ages, scores), and
    ``years`` (1900-2099) apart, both prefixed so that they are terms of their own. Each is
    ordered by first occurrence, text before title; a term's count is summed over the tokens
    that share its hash.
    """

    words: dict[int, int]
    title: dict[int, int]
    numbers: dict[int, int]
    years: dict[int, int]


def article_terms(title: str | None, text: str, title_weight: int) -> Terms:
    """The :class:`Terms` of an article (the per-token work of the text is mapped in C)."""
    words, numbers, years = _classified(Counter(tokens(text)))
    if not title:
        return Terms(words, {}, numbers, years)
    titles, title_numbers, title_years = _classified(Counter(tokens(title)))
    for into, extra, weight in ((words, titles, title_weight), (numbers, title_numbers, 1),
                                (years, title_years, 1)):
        if weight:
            for term, k in extra.items():
                into[term] = into.get(term, 0) + weight * k
    return Terms(words, titles, numbers, years)


# Packed terms: magic, title weight, the sizes of words, title, numbers and years, then every
# term hash (u32) and every count (u32), in that order (see :func:`pack_terms`).
_TERMS_MAGIC = 0x54
_TERMS_HEAD = struct.Struct("<BBIIII")


def pack_terms(terms: Terms, title_weight: int) -> bytes:
    """``terms`` as bytes, for the article's trip from the tagging processes to the story agent:
    the extraction is stateless, so it runs beside NER, off the one-partition story stage
    (:func:`unpack_terms` reads it back, same order, same counts)."""
    parts = (terms.words, terms.title, terms.numbers, terms.years)
    return b"".join((
        _TERMS_HEAD.pack(_TERMS_MAGIC, title_weight, *map(len, parts)),
        array("I", [*chain.from_iterable(parts)]).tobytes(),
        array("I", [*chain.from_iterable(map(dict.values, parts))]).tobytes(),
    ))


def unpack_terms(value: bytes, title_weight: int) -> Terms | None:
    """The :class:`Terms` packed in ``value``; None when it was packed with another title
    weight or is not packed terms at all (the caller then extracts them from the text)."""
    parts = _unpack_parts(value, title_weight)
    return None if parts is None else Terms(*parts)


def _py_unpack_parts(value: bytes, title_weight: int) -> tuple[dict[int, int], ...] | None:
    if len(value) < _TERMS_HEAD.size:
        return None
    magic, weight, *sizes = _TERMS_HEAD.unpack_from(value)
    total = sum(sizes)
    if (magic != _TERMS_MAGIC or weight != title_weight
            or len(value) != _TERMS_HEAD.size + 8 * total):
        return None
    packed = array("I")
    packed.frombytes(value[_TERMS_HEAD.size:])
    numbers = packed.tolist()  # (one conversion to ints, then list slices)
    hashes, counts = numbers[:total], numbers[total:]
    out: list[dict[int, int]] = []
    start = 0
    for size in sizes:
        out.append(dict(zip(hashes[start:start + size], counts[start:start + size],
                            strict=True)))
        start += size
    return tuple(out)


def _classified(counts: Counter[str]) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """Token counts as hashed content words, numbers and years (1900-2099), the last two
    prefixed so that they are terms of their own; each in order of first occurrence."""
    found, n = list(counts), list(counts.values())
    content = list(map(not_, map(_NOT_CONTENT.__contains__, found)))
    words = _summed(crc(compress(found, content)), list(compress(n, content)))
    digits = list(map(not_, map(str.isalpha, found)))
    if not any(digits):
        return words, {}, {}
    held, held_n = list(compress(found, digits)), list(compress(n, digits))
    year = list(map(_YEARS.__contains__, held))
    other = list(map(not_, year))
    numbers = _summed(crc(map(add, repeat("\x02"), compress(held, other))),
                      list(compress(held_n, other)))
    years = _summed(crc(map(add, repeat("\x03"), compress(held, year))),
                    list(compress(held_n, year)))
    return words, numbers, years


def _summed(hashes: list[int], values: list[int]) -> dict[int, int]:
    """hash -> summed value, in order of first occurrence."""
    out = dict(zip(hashes, values, strict=True))
    if len(out) == len(hashes):
        return out  # every hash once: nothing to sum (the common case)
    out = {}
    for h, value in zip(hashes, values, strict=True):
        out[h] = out.get(h, 0) + value
    return out


def entity_key(name: str, qid: str | None, label: str) -> str:
    """The identity of an entity across articles: its QID, else label and canonical name."""
    return qid if qid else f"{label}:{name.lower()}"


def entity_group(label: str) -> str:
    """P(erson), L(ocation), O(rganisation) or X (other who/where labels)."""
    return _GROUPS.get(label, "X")


def entity_weights(hasher: Hasher, entities: Iterable[EntityTuple]
                   ) -> tuple[dict[int, float], dict[int, str], dict[int, str]]:
    """Hashed entity keys with their summed salience (who/where labels only), their groups,
    and the first canonical name of every entity's key (all labels, in the article's order)."""
    out: dict[int, float] = {}
    groups: dict[int, str] = {}
    names: dict[int, str] = {}
    for name, qid, label, salience in entities:
        term = hasher("\x01" + entity_key(name, qid, label))
        names.setdefault(term, name)
        if label in ENTITY_LABELS and salience > 0:
            out[term] = out.get(term, 0.0) + float(salience)
            groups[term] = entity_group(label)
    return out, groups, names


class Frequencies(Protocol):
    """What the clusterer needs of its document frequencies (:class:`DocFreq`, or the same
    in compiled code, ``newsflow_native.DocFreq``: see :func:`use_native`)."""

    docs: int

    @property
    def counts(self) -> dict[int, int]: ...

    def add(self, terms: Iterable[int]) -> None: ...

    def load(self, counts: dict[int, int], docs: int) -> None: ...

    def remove(self, terms: Iterable[int]) -> None: ...

    def weigh(self, counts: dict[int, int] | dict[int, float], sublinear: bool = True
              ) -> Vector: ...


def native_module() -> ModuleType | None:
    """The extension module built from ``native/`` by ``scripts/build-native.sh``, or None."""
    try:
        return importlib.import_module("newsflow_native")
    except ImportError:
        return None


def native_doc_freq() -> Callable[[], Frequencies] | None:
    """``newsflow_native.DocFreq``, or None when the module is not installed."""
    module = native_module()
    if module is None:
        return None
    found: Callable[[], Frequencies] = module.DocFreq
    return found


def use_native(native: bool) -> Callable[[], Frequencies]:
    """Choose the compiled parts when ``native`` and built, else the Python ones, and return
    the document-frequency class. The vector functions of :data:`_PARTS` are switched for the
    whole process (the clusterer built last decides): both versions give the same results bit
    for bit (the compiled code does the same floating-point operations in the same order), so
    the choice is one of speed only."""
    module = native_module() if native else None
    if module is None and native:
        _warn_not_built()
    for name, (python, compiled) in _PARTS.items():
        globals()[name] = python if module is None else getattr(module, compiled)
    if module is None:
        return DocFreq
    found: Callable[[], Frequencies] = module.DocFreq
    return found


@functools.cache
def _warn_not_built() -> None:
    logging.getLogger(__name__).warning(
        "newsflow_native is not installed: the story stage's compiled parts (document "
        "frequencies, candidate index, cosines, rankings) run in Python (the same decisions, "
        "about 40 % of the rate); run "
        "scripts/build-native.sh (needs cargo), or set NEWSFLOW_STORY_NATIVE=false to choose "
        "this")


class DocFreq:
    """Online document frequencies over the articles currently held."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.docs = 0

    def add(self, terms: Iterable[int]) -> None:
        self.counts.update(terms)  # counted in C
        self.docs += 1

    def load(self, counts: dict[int, int], docs: int) -> None:
        """Replace the state with ``counts`` (term -> document frequency) and ``docs``."""
        self.counts = Counter(counts)
        self.docs = docs

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
        """L2-normalised TF-IDF, ``idf = ln((N + 1) / (df + 1)) + 1``.

        ``sublinear``: tf -> ``1 + ln(tf)`` for ``tf >= 1``. The logarithms of integers come
        from tables (the same values ``math.log`` gives), and the per-term arithmetic is mapped
        in C, in the order the expression above reads.
        """
        if not counts:
            return {}
        log_n = math.log(self.docs + 1) + 1.0
        logs = _logs(self.docs + 2)
        get = self.counts.get

        def idf() -> Iterable[float]:
            return map(sub, repeat(log_n), map(logs.__getitem__,
                                               map(add, map(get, counts, repeat(0)), repeat(1))))

        try:
            if not sublinear:
                return _unit(counts, list(map(mul, counts.values(), idf())))
            # term counts: integers >= 0, their 1 + ln(tf) from a table
            # counts past the table raise IndexError and take the exact path below
            tf = map(_SUBLINEAR.__getitem__, counts.values())  # type: ignore[arg-type]  # floats raise
            return _unit(counts, list(map(mul, tf, idf())))
        except (TypeError, IndexError):  # float weights, or a count past the tables
            return _unit(counts, [
                (_sublinear(tf) if sublinear else tf) * (log_n - _log_int(get(term, 0) + 1))
                for term, tf in counts.items()])


_LOGS = [0.0, 0.0] + [math.log(i) for i in range(2, 4096)]


def _logs(size: int) -> list[float]:
    """The table of ``ln(i)``, grown to at least ``size`` entries (document frequencies reach
    the number of articles held)."""
    if len(_LOGS) < size:
        _LOGS.extend(math.log(i) for i in range(len(_LOGS), size + 1024))
    return _LOGS


def _log_int(i: int) -> float:
    """``ln(i)`` for a positive integer, from a table for the common small ones."""
    return _LOGS[i] if i < len(_LOGS) else math.log(i)


def _sublinear(tf: float) -> float:
    """``1 + ln(tf)`` for ``tf >= 1`` (term counts), ``tf`` itself below."""
    if tf < 1:
        return tf
    if isinstance(tf, int):
        return 1.0 + _log_int(tf)
    return 1.0 + math.log(tf)


_SUBLINEAR = [_sublinear(i) for i in range(4096)]


def _unit(terms: Iterable[int], values: list[float]) -> Vector:
    """``terms`` -> ``values`` divided by their L2 norm (``{}`` for a zero vector)."""
    norm = math.sqrt(sum(map(mul, values, values)))
    return dict(zip(terms, map(truediv, values, repeat(norm)), strict=False)) if norm else {}


def normalised(vector: Vector) -> Vector:
    """``vector`` divided by its L2 norm (``{}`` for a zero vector)."""
    return _normalised(vector)


def dot(a: Vector, b: Vector) -> float:
    """Sparse dot product over the shared terms, summed in the order of the smaller vector
    (the first when both have the same size)."""
    return _dot(a, b)


GROUPS = ("P", "L", "O")  # the entity groups the story features compare


def normalised_groups(vector: Vector, groups: dict[int, str]) -> dict[str, Vector]:
    """The entries of ``vector`` split by their group in ``groups`` (:data:`GROUPS`; terms of
    other groups left out), each part normalised."""
    return _normalised_groups(vector, groups)


def _py_normalised_groups(vector: Vector, groups: dict[int, str]) -> dict[str, Vector]:
    out: dict[str, Vector] = {g: {} for g in GROUPS}
    for term, weight in vector.items():
        group = groups.get(term)
        if group in out:
            out[group][term] = weight
    return {g: _normalised(v) for g, v in out.items()}


def unit_vector(vector: Vector) -> Vector:
    """``normalised(vector)`` for scoring only (cosines, ``len``, truth): with the compiled
    parts a ``newsflow_native.Unit`` (the same weights, held in Rust arrays, so that cosines
    against it read contiguous memory), else the normalised dict."""
    return _unit_vector(vector)


def as_unit(vector: Vector) -> Vector:
    """A vector that is normalised already, held as :func:`unit_vector` holds its result
    (unchanged)."""
    return _as_unit(vector)


def unit_groups(vector: Vector, groups: dict[int, str]) -> dict[str, Vector]:
    """:func:`normalised_groups`, each group's vector held as :func:`unit_vector` holds it."""
    return _unit_groups(vector, groups)


def units_compiled() -> bool:
    """Whether :func:`unit_vector` gives compiled vectors (not dicts) in this process."""
    return _unit_vector is not _py_normalised


def _py_as_unit(vector: Vector) -> Vector:
    return vector


def _py_normalised(vector: Vector) -> Vector:
    return _unit(vector, list(vector.values()))


def _py_dot(a: Vector, b: Vector) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    shared = list(filter(b.__contains__, a))  # the look-ups and products run in C
    return sum(map(mul, map(a.__getitem__, shared), map(b.__getitem__, shared)))


def ranked(vector: Vector, k: int | None = None) -> list[tuple[int, float]]:
    """The entries heaviest first (ties in the vector's order); the first ``k`` when given."""
    return _ranked(vector, k)


def _py_ranked(vector: Vector, k: int | None = None) -> list[tuple[int, float]]:
    entries = sorted(vector.items(), key=_WEIGHT, reverse=True)  # stable: ties keep the order
    return entries if k is None else entries[:k]


def _py_top(vector: Vector, k: int) -> Vector:
    return dict(_py_ranked(vector, k))


def heaviest_by_term(vector: Vector, k: int) -> list[int]:
    """The terms of the ``k`` heaviest entries, heaviest first, ties by term (not by the
    vector's order, as :func:`heaviest`)."""
    return _heaviest_by_term(vector, k)


def _py_heaviest_by_term(vector: Vector, k: int) -> list[int]:
    # the k smallest (-weight, term)
    return [t for _, t in heapq.nsmallest(k, zip(map(neg, vector.values()), vector,
                                                  strict=True))]


def pack_vectors(vectors: Sequence[Vector]) -> bytes:
    """``vectors`` as bytes: their sizes (u32), then all their terms (u32), then all their
    weights (f64), in order, native byte order (``array("I")``, ``array("d")``)."""
    return _pack_vectors(vectors)


def _py_pack_vectors(vectors: Sequence[Vector]) -> bytes:
    return b"".join((
        array("I", map(len, vectors)).tobytes(),
        array("I", [*chain.from_iterable(vectors)]).tobytes(),  # (a list converts faster)
        array("d", [*chain.from_iterable(map(dict.values, vectors))]).tobytes(),
    ))


# The implementations in use (:func:`use_native` switches them).
_dot: Callable[[Vector, Vector], float] = _py_dot
_normalised: Callable[[Vector], Vector] = _py_normalised
_ranked: Callable[[Vector, int | None], list[tuple[int, float]]] = _py_ranked
_top: Callable[[Vector, int], Vector] = _py_top
_heaviest_by_term: Callable[[Vector, int], list[int]] = _py_heaviest_by_term
_unpack_parts: Callable[[bytes, int], tuple[dict[int, int], ...] | None] = _py_unpack_parts
_unit_vector: Callable[[Vector], Vector] = _py_normalised
_as_unit: Callable[[Vector], Vector] = _py_as_unit
_unit_groups: Callable[[Vector, dict[int, str]], dict[str, Vector]] = _py_normalised_groups
_pack_vectors: Callable[[Sequence[Vector]], bytes] = _py_pack_vectors
_normalised_groups: Callable[[Vector, dict[int, str]], dict[str, Vector]] = (
    _py_normalised_groups)
# Each switched function: its Python implementation, and its name in newsflow_native.
_PARTS: dict[str, tuple[Callable[..., object], str]] = {
    "_dot": (_py_dot, "dot"),
    "_normalised": (_py_normalised, "normalised"),
    "_ranked": (_py_ranked, "ranked"),
    "_top": (_py_top, "top"),
    "_heaviest_by_term": (_py_heaviest_by_term, "heaviest_by_term"),
    "_unpack_parts": (_py_unpack_parts, "unpack_terms"),
    "_unit_vector": (_py_normalised, "unit"),
    "_as_unit": (_py_as_unit, "as_unit"),
    "_unit_groups": (_py_normalised_groups, "unit_groups"),
    "_pack_vectors": (_py_pack_vectors, "pack_vectors"),
    "_normalised_groups": (_py_normalised_groups, "normalised_groups"),
}


def top(vector: Vector, k: int) -> Vector:
    """The ``k`` heaviest entries, heaviest first (ties in the vector's order)."""
    if len(vector) <= k:
        return dict(vector)
    return _top(vector, k)


def add_into(total: Vector, vector: Vector) -> None:
    """``total[t] += vector[t]`` for every term (new terms appended in ``vector``'s order)."""
    total.update(zip(vector, map(add, map(total.get, vector, repeat(0.0)), vector.values()),
                     strict=True))


def heaviest(vector: Vector, k: int) -> list[int]:
    """The terms of the ``k`` heaviest entries, heaviest first (ties in the vector's order)."""
    return list(map(_TERM, _ranked(vector, k)))


_TERM, _WEIGHT = itemgetter(0), itemgetter(1)
