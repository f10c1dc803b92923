"""The fail-safe of the cleaning stage: which lines the model may never remove.

* :class:`Protection` (per line, lazily): figures, table rows next to figures, quoted speech,
  lists of the article's own;
* :func:`declarative` / :func:`article_sentence`: lines that read as the article's own are kept
  whatever the score (shape and position alone never remove a line);
* :func:`teaser_heading`: a heading made only of teaser words ("Most read"), removed;
* :func:`has_cue`: whether any junk cue fired (the features of
  :mod:`workers.stages.clean_features`).
"""

from __future__ import annotations

from workers.stages.clean_text import (
    _CLOCK,
    _NUMBER,
    _QUOTE,
    _SENT_END,
    _STAMP_SUFFIX,
    _TIME,
    _YEAR,
    MONTHS,
    STAMP_WORDS,
    TEASER_WORDS,
    TIME_UNITS,
    LineView,
    lexicon,
    more_words_than,
    words_of,
)

GUARD = "guard:sentence"  # marks a line :func:`declarative` keeps; it has no other features
_MIN_LIST = 4  # consecutive short cue-less lines that make a list of the article's own


def _figure_numbers(tokens: list[str], low: list[str], stampish: bool) -> bool:
    """Whether the line holds a number that is a figure, not part of a stamp or a date."""
    for i, tok in enumerate(tokens):
        if not tok[0].isdigit():
            continue
        if _YEAR.match(tok) and "," not in tok:
            continue
        nxt = low[i + 1] if i + 1 < len(low) else ""
        prv = low[i - 1] if i > 0 else ""
        if nxt in TIME_UNITS or nxt in ("am", "pm", "gmt", "utc", "bst", "et", "est"):
            continue
        if ":" in tok or (stampish and (nxt in MONTHS or prv in MONTHS or nxt in _STAMP_SUFFIX
                                        or _CLOCK.match(tok))):
            continue
        return True
    return False


def is_figure_line(text: str) -> bool:
    """A line holding a figure: a number that is not a year, a time, an age or a stamp date."""
    if not _NUMBER.search(text):
        return False
    tokens = words_of(text)
    low = [w.lower() for w in tokens]
    stampish = any(w in STAMP_WORDS for w in low) or bool(_TIME.search(text)) \
        or any(_YEAR.match(w) for w in tokens)
    return _figure_numbers(tokens, low, stampish)


_CUE_NAMES = frozenset(("cta:verb_first", "cta:you", "cta:we", "legal:word", "stamp:word",
                        "stamp:time", "teaser:short", "shape:separators", "shape:label_prefix",
                        "shape:url", "cta:social", "credit:word"))  # + rule:*, mem:*


def has_cue(features: dict[str, float], memory: bool = True) -> bool:
    """Whether any junk cue (call to action, legal, stamp, teaser, navigation, and with
    ``memory`` also "seen in earlier articles of the source") fired."""
    for k in features:
        if k in _CUE_NAMES or k.startswith("rule:") or (memory and k.startswith("mem:")):
            return True
    return False


def declarative(text: str, features: dict[str, float]) -> bool:
    """A declarative sentence of the article's: 8+ words ending in a full stop, no second
    person, not opening with a call-to-action verb, at most one legal word."""
    return "shape:sentence_end" in features and text.rstrip().endswith((".", '."', ".”")) \
        and "cta:you" not in features and "cta:verb_first" not in features \
        and features.get("legal:word", 0.0) < 1.0 and more_words_than(text, 7)


def article_sentence(text: str, features: dict[str, float]) -> bool:
    """The fail-safe for the model: a line that reads as the article's own is kept whatever the
    score. Either a declarative sentence (8+ words ending in a full stop, no second person, not
    opening with a call-to-action verb, at most one legal word), or a line without any junk cue
    (call to action, legal, stamp, teaser, navigation, seen before in the source) that stands
    inside the article or shares at least a quarter of its content words with it: shape and
    position alone never remove a line."""
    if GUARD in features or declarative(text, features):
        return True
    if has_cue(features):
        return False
    if "pos:before_text" not in features and "pos:after_text" not in features:
        return True  # inside the article, a line without any cue stays (a subheading, a list)
    return "ctx:low_overlap" not in features and "ctx:no_overlap" not in features


def teaser_heading(text: str) -> bool:
    """A heading of a teaser or navigation block, made only of teaser words and function words
    ("Most popular", "Trending now", "You may also like", "Top stories")."""
    if len(text) > 60:
        return False
    low = [w.lower() for w in words_of(text)]
    if not low or len(low) > 5 or _SENT_END.search(text):
        return False
    return any(w in TEASER_WORDS for w in low) and all(
        w in TEASER_WORDS or w in _FUNCTION for w in low)


_FUNCTION = lexicon("""a an the for you your to of on in this now from our we all here more
may might also like today week news""")


def dense_figures(features: dict[str, float]) -> bool:
    """A protected line that is mostly figures ("Pay April 15", "Shr 34 cts vs 12 cts"): even
    the edge-headline rule leaves it; "Fresh Final Fantasy 7 Remake ..." is not one."""
    return features.get("shape:digit_share", 0.0) >= 0.2


def protected(lines: list[LineView], features: list[dict[str, float]]) -> list[bool]:
    """:class:`Protection` of every line (for training)."""
    check = Protection(lines, features)
    return [check(i) for i in range(len(lines))]


class Protection:
    """The fail-safe: lines that carry the article's facts are never removed by the model.

    * a figure (amounts, results, share counts, "12 cts vs 10 cts", "Pay April 15");
    * a line of at most eight words without any junk cue next to such a figure line without
      cue (a row of a table: "Nine mths", "Qtly div nine cts vs eight cts prior");
    * quoted speech (a double quote and at least six words);
    * a list: a run of four or more short lines (at most eight words, no sentence end) without
      any junk cue, unless a teaser heading ("Most read") stands right above it.

    Called per line index, lazily: most lines are never candidates for removal.
    """

    def __init__(self, lines: list[LineView], features: list[dict[str, float]]) -> None:
        self.lines = lines
        self.features = features
        self._figures: dict[int, bool] = {}
        self._listed: set[int] | None = None

    def figure(self, i: int) -> bool:
        if i not in self._figures:
            self._figures[i] = is_figure_line(self.lines[i].text)
        return self._figures[i]

    def _plain(self, i: int) -> bool:
        # a wire source repeats its table labels in every report: repetition is no cue here
        return not more_words_than(self.lines[i].text, 8) \
            and not has_cue(self.features[i], memory=False)

    def listed(self) -> set[int]:
        if self._listed is None:
            item = [not more_words_than(ln.text, 8) and "shape:sentence_end" not in f
                    and not has_cue(f) for ln, f in zip(self.lines, self.features, strict=True)]
            self._listed = set()
            i = 0
            while i < len(item):
                j = i
                while j < len(item) and item[j]:
                    j += 1
                if j - i >= _MIN_LIST and not (i > 0 and teaser_heading(self.lines[i - 1].text)):
                    self._listed.update(range(i, j))
                i = max(j, i + 1)
        return self._listed

    def __call__(self, i: int) -> bool:
        text = self.lines[i].text
        if self.figure(i):
            return True
        if bool(_QUOTE.search(text)) and more_words_than(text, 5):
            return True
        if self._plain(i) and any(0 <= j < len(self.lines) and self._plain(j) and self.figure(j)
                                  for j in (i - 1, i + 1)):
            return True
        return i in self.listed()
