"""Language identification for the cleaning stage: py3langid's model and py3langid's answer,
computed with fewer Python steps.

py3langid (0.4) classifies a text by walking its byte automaton (an Aho-Corasick automaton over
the model's byte n-grams, failure links folded in) in a Python loop, one step per byte, then
multiplies the log-counts of the features met by their float16 weight rows. For the cleaner's
1,200-character samples that is about 0.4 ms, a fifth of the text path. :class:`LanguageId`
returns the same ``(language, probability)``, bit for bit:

* **The walk, vectorised.** After any byte, the automaton's state is the longest suffix of the
  text read so far that is a prefix of an n-gram, so it depends only on the last ``depth``
  bytes (``depth``: the longest n-gram, 6 for the shipped model, found at load time by a
  breadth-first walk of the automaton). The state at every position is therefore the state
  reached from the root by reading that position's last ``depth`` bytes: ``depth`` numpy
  gathers over all positions instead of one Python step per byte. The features are counted in
  the order py3langid meets them (first occurrence), so the product sums in the same order.
* **float32 weight rows kept.** py3langid's numpy converts every gathered float16 row to
  float32 before its float32 product; the converted rows of the features met are kept (up to
  ``cache_rows`` of them, about 9 MB; later features are converted per call as before), and
  the product is the same float32 product on the same values.

The probability normalisation is py3langid's own (``norm_probs=True``). When the identifier
does not have the layout this relies on (another py3langid version), :meth:`LanguageId.classify`
is py3langid's ``classify``; tests/unit/test_clean_lang.py compares the two on real and random
text.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from array import array

import numpy as np
from py3langid.langid import LanguageIdentifier

_MAX_DEPTH = 16  # a deeper automaton (longer n-grams) takes py3langid's own walk


def automaton_depth(nextmove: np.ndarray, rowbase: np.ndarray) -> int:
    """The largest number of bytes read from the root to reach a state (breadth first)."""
    n = len(rowbase)
    seen = np.zeros(n, dtype=bool)
    seen[0] = True
    expanded = np.zeros(int(rowbase.max() >> 8) + 1, dtype=bool)  # transition rows walked
    frontier = np.zeros(1, dtype=np.intp)
    depth = 0
    steps = np.arange(256, dtype=np.intp)
    while True:
        # states sharing a transition row step alike, and a row walked at a lower depth
        # reaches nothing new
        rows = np.unique(rowbase[frontier] >> 8)
        rows = rows[~expanded[rows]]
        expanded[rows] = True
        reached = np.zeros(n, dtype=bool)
        reached[nextmove[((rows << 8)[:, None] + steps).ravel()]] = True
        reached &= ~seen
        if not reached.any():
            return depth
        seen |= reached
        frontier = np.flatnonzero(reached)
        depth += 1


class LanguageId:
    """``classify(text) -> (language, probability)``, identical to py3langid's (module doc)."""

    def __init__(self, identifier: LanguageIdentifier, cache_rows: int = 16384) -> None:
        self.identifier = identifier
        self._fast = False
        nextmove = getattr(identifier, "tk_nextmove", None)
        row = getattr(identifier, "tk_row", None)
        if not (getattr(identifier, "_norm_probs", False) and identifier.min_confidence is None
                and isinstance(nextmove, array) and isinstance(row, array | list)):
            return  # another layout: py3langid's own classify
        self._nextmove = np.frombuffer(nextmove, dtype=np.dtype(nextmove.typecode))
        self._rowbase = np.asarray(row, dtype=np.intp) << 8
        self._output = np.asarray(identifier.tk_output, dtype=np.intp)
        self._depth = automaton_depth(self._nextmove, self._rowbase)
        if not 1 <= self._depth <= _MAX_DEPTH:
            return
        self._classes = list(identifier.nb_classes)
        first: dict[str, int] = {}
        self._aliases = []  # (first column, duplicate column) of a label listed twice
        for i, c in enumerate(self._classes):
            if c in first:
                self._aliases.append((first[c], i))
            else:
                first[c] = i
        self._table = identifier.nb_ptc
        self._prior = identifier.nb_pc
        self._cache = np.empty((max(1, cache_rows), self._table.shape[1]), dtype=np.float32)
        self._slot = np.full(self._table.shape[0], -1, dtype=np.intp)
        self._used = 0
        self._lock = threading.Lock()
        self._fast = True

    def classify(self, text: str) -> tuple[str, float]:
        """The language of ``text`` and its probability, as py3langid's ``classify``."""
        if not self._fast:
            lang, prob = self.identifier.classify(text)
            return str(lang), float(prob)
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")
        features = self._features(data)
        if features is None:
            scores = np.zeros(len(self._classes), dtype=np.float32)
        else:
            idx, counts = features
            scores = np.log1p(counts.astype(np.float32)) @ self._rows(idx) + self._prior
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in self._aliases:
            scores[i] += scores[j]
            scores[j] = 0.0
        best = int(scores.argmax())
        return self._classes[best], float(scores[best])

    def _features(self, data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """The n-gram features of ``data`` in order of first occurrence, and their counts."""
        if not data:
            return None
        b = np.frombuffer(data, dtype=np.uint8).astype(np.intp)
        nextmove, rowbase = self._nextmove, self._rowbase
        states = np.empty(len(b), dtype=np.intp)
        s = nextmove[rowbase[0] + b]  # s[j]: the state after reading byte j from the root
        states[0] = s[0]
        for k in range(1, self._depth):  # now s[j]: after bytes j .. j+k, ending at j+k
            if len(s) < 2:
                break
            s = nextmove[rowbase[s[:-1]] + b[k:]]
            states[k] = s[0]
        if len(b) >= self._depth:
            states[self._depth - 1:] = s
        found = self._output[states]
        at = np.flatnonzero(found >= 0)
        if not len(at):
            return None
        # one sort of (feature, position) keys: the features grouped, each group's first
        # position first
        n = len(states)
        keys = np.sort(found[at] * n + at)
        feats = keys // n
        starts = np.empty(len(keys), dtype=bool)
        starts[0] = True
        np.not_equal(feats[1:], feats[:-1], out=starts[1:])
        first = np.flatnonzero(starts)
        counts = np.diff(first, append=len(keys))
        order = np.argsort(keys[first] % n)  # by first position: py3langid's counting order
        return feats[first][order], counts[order]

    def _rows(self, idx: np.ndarray) -> np.ndarray:
        """float32 weight rows of features ``idx`` (the values numpy's float16 cast gives)."""
        slots = self._slot[idx]
        miss = slots < 0
        if not miss.any():
            return self._cache[slots]
        with self._lock:
            new = idx[self._slot[idx] < 0]  # another thread may have added some meanwhile
            room = min(len(new), len(self._cache) - self._used)
            if room:
                start = self._used
                self._cache[start:start + room] = self._table[new[:room]]
                self._used += room
                self._slot[new[:room]] = np.arange(start, start + room)  # after the rows
        rows = self._cache[slots]  # a slot of -1 reads the last row: overwritten now
        rows[miss] = self._table[idx[miss]]
        return rows
