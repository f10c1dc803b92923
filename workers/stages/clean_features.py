"""General evidence about one line of an article, as named features for the line model.

:func:`article_features` turns the candidate lines of one article into one sparse feature dict
per line (name -> value, mostly 0/1). The families, all written from general knowledge of how
web pages and news copy look, not from the dev file's junk:

* ``shape:*``  length bins, sentence ending, a truncated long line, title case, a label prefix
  ("Xxx: ..."), separators of a navigation trail, URLs, "!";
* ``pos:*``    first/last line, near an edge, before the article's first / after its last
  full sentence;
* ``cta:*``    call-to-action cues: a general English call-to-action verb first, second person,
  first person plural (the site speaking), the things a prompt asks for (newsletter, app,
  notifications, account, donation, ...), social network names;
* ``stamp:*``  publication stamps and bylines: stamp words, share of date/time tokens;
* ``teaser:*`` words of teaser and navigation blocks (most, read, popular, trending, related);
* ``legal:*``  copyright, cookies, privacy; ``credit:*`` photo credits;
* ``ctx:*``    the line's overlap with the rest of the article and with its title, capitalised
  words (entities) shared with the article, the old edge-headline rule;
* ``mem:*``    the same line seen in earlier articles of the same source, overlap with the title
  of another recent article of the source (:mod:`workers.stages.clean_memory`);
* ``rule:*``   a hit of a phrase family of ``boilerplate.toml`` (one feature among many).

The fail-safe that overrides the model lives in :mod:`workers.stages.clean_guards`; the words
and lexicons in :mod:`workers.stages.clean_text`.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import cast

from workers.stages.clean_guards import GUARD, declarative, has_cue
from workers.stages.clean_rules import LineRules
from workers.stages.clean_text import (
    _FAST_CUE_WORDS,
    _FIRST_SKIP,
    _LABEL,
    _SENT_END,
    _TIME,
    _URL,
    CREDIT_WORDS,
    CTA_OBJECTS,
    CTA_VERBS,
    DATE_WORDS,
    FIRST_PLURAL,
    LEGAL_WORDS,
    SECOND_PERSON,
    SOCIAL,
    SPEECH_VERBS,
    STAMP_WORDS,
    TEASER_WORDS,
    TIME_UNITS,
    LineView,
    more_words_than,
    separated,
    stem,
    words_of,
)


def content_stems(rules: LineRules, text: str) -> frozenset[str]:
    """Stems of the content words of ``text`` (overlap with the article and with titles)."""
    return _stems([w.lower() for w in words_of(text)], rules.stopwords)


def _stem_of(w: str, stopwords: frozenset[str]) -> str:
    """The stem ``w`` contributes to a line's content stems ("" for none)."""
    if w in stopwords or w[0].isdigit():
        return ""
    if "’" in w:
        w = w.replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    return stem(w) if len(w) > 1 and w not in stopwords else ""


# word -> _stem_of(word), per stop-word list (one in practice); bounded
_STEM_CACHE: dict[frozenset[str], dict[str, str]] = {}
_STEM_CACHE_MAX = 1 << 17


def _stems(low: list[str], stopwords: frozenset[str]) -> frozenset[str]:
    cache = _STEM_CACHE.get(stopwords)
    if cache is None or len(cache) > _STEM_CACHE_MAX:
        cache = _STEM_CACHE[stopwords] = {}
    out = set(map(cache.get, low))
    if None in out:  # words not met before
        for w in low:
            if w not in cache:
                cache[w] = _stem_of(w, stopwords)
        out = set(map(cache.__getitem__, low))
    out.discard("")
    return frozenset(cast(set[str], out))


def article_features(rules: LineRules, lines: list[LineView], title: str | None,
                     edge_headlines: set[int]) -> list[dict[str, float]]:
    """One sparse feature dict per line of one article (see the module docstring)."""
    n = len(lines)
    toks = [words_of(ln.text) for ln in lines]
    # lower-casing ASCII maps A-Z only, so the words of the lower-cased line are the lower-cased
    # words (not so for all of Unicode: "İ".lower() is two characters)
    lows = [[w.lower() for w in t] if ln.text.isascii() else words_of(ln.text.lower())
            for ln, t in zip(lines, toks, strict=True)]
    contents = [ln.stems or _stems(low, rules.stopwords) for ln, low in zip(lines, lows,
                                                                             strict=True)]
    base = []
    for ln, t, low in zip(lines, toks, lows, strict=True):
        f = _plain_sentence(ln.text, t, low)
        if f is None:
            f = _shape(ln.text, t)
            _lexical(f, low, ln.text)
        base.append(f)
    # overlap, shared entities and the article's extent are taken from prose lines only (8+
    # words, no junk cue), so that junk lines naming the site ("Follow the Gazette on ...",
    # "(c) the Gazette") do not vouch for each other
    prose = [len(t) >= 8 and not has_cue(f) for t, f in zip(toks, base, strict=True)]
    counts: Counter[str] = Counter()
    caps_all: Counter[str] = Counter()
    caps_of: dict[int, set[str]] = {}
    for i, (c, t, is_prose) in enumerate(zip(contents, toks, prose, strict=True)):
        if is_prose:
            counts.update(c)
            caps_all.update(caps_of.setdefault(i, _capitalised(t)))
    title_words = content_stems(rules, title) if title else frozenset()
    full = [p and len(t) >= 12 and "shape:sentence_end" in f
            for p, t, f in zip(prose, toks, base, strict=True)]
    first_full = full.index(True) if any(full) else n
    last_full = n - 1 - full[::-1].index(True) if any(full) else -1
    out: list[dict[str, float]] = []
    for i, ln in enumerate(lines):
        f = base[i]
        if GUARD in f or declarative(ln.text, f):  # (the fast path's lines are declarative)
            f[GUARD] = 1.0  # kept whatever the score: the rest is not worth computing
            out.append(f)
            continue
        if i == 0:
            f["pos:first"] = 1.0
        if i == n - 1:
            f["pos:last"] = 1.0
        if 0 < i < n - 1 and (i < 3 or i > n - 4):
            f["pos:near_edge"] = 1.0
        if i < first_full:
            f["pos:before_text"] = 1.0
        if i > last_full:
            f["pos:after_text"] = 1.0
        if (i < first_full or i > last_full) and "shape:sentence_end" not in f:
            f["x:unended_outside"] = 1.0
        own = contents[i]
        if own:
            shared = sum(1 for w in own if counts.get(w, 0) > prose[i])
            f["ctx:overlap"] = shared / len(own)
            if shared / len(own) < 0.25 and len(own) >= 4:
                f["ctx:low_overlap"] = 1.0
                if i >= n - 2 or i <= 1:
                    f["x:edge_low_overlap"] = 1.0
            if shared == 0 and len(own) >= 2:
                f["ctx:no_overlap"] = 1.0
                if "pos:after_text" in f or "pos:before_text" in f:
                    f["x:edge_no_overlap"] = 1.0
            if title_words:
                f["ctx:title_overlap"] = len(own & title_words) / len(own)
        caps = caps_of[i] if i in caps_of else _capitalised(toks[i])
        if caps and any(caps_all.get(w, 0) > prose[i] for w in caps):
            f["ctx:entity_shared"] = 1.0
        if i in edge_headlines:
            f["ctx:edge_headline_rule"] = 1.0
        if ln.source_count:
            f["mem:seen"] = 1.0
            if ln.source_count >= 3:
                f["mem:seen3"] = 1.0
        if ln.recent_title_overlap >= 0.5:
            f["mem:other_title"] = 1.0
        if (reason := rules.family_hit(ln.text)) is not None:
            f[f"rule:{reason}"] = 1.0
        _families(f)
        out.append(f)
    return out


# evidence families: "cue:count" (how many fired) is learned from every kind of junk at once, so
# it carries over to a kind whose own words the model never saw
_FAMILY_OF = (("cta", ("cta:verb_first", "x:cta", "cta:social")), ("legal", ("legal:word",)),
              ("stamp", ("stamp:word", "stamp:time")), ("credit", ("credit:word",)),
              ("nav", ("shape:separators", "shape:label_prefix", "teaser:short", "shape:url")),
              ("seen", ("mem:seen", "mem:seen3", "mem:other_title")))
_FEATURE_FAMILY = {name: f"fam:{fam}" for fam, names in _FAMILY_OF for name in names}


def _capitalised(tokens: list[str]) -> set[str]:
    """Capitalised words after the first (names, most of them)."""
    return {w for w in tokens[1:] if w[0].isupper() and len(w) > 1}


def without_memory(f: dict[str, float]) -> dict[str, float]:
    """The features of the same line for a source the memory knows nothing of (training
    augmentation: the first article of a source, or a worker whose memory is off)."""
    out = {k: v for k, v in f.items() if not k.startswith(("mem:", "fam:seen", "cue:"))}
    _families(out)
    return out


def _families(f: dict[str, float]) -> None:
    fams = {fam for k in f if (fam := _FEATURE_FAMILY.get(k)) is not None}
    for family in fams:
        f[family] = 1.0
    fired = len(fams)
    if fired:
        f["cue:any"] = 1.0
        f["cue:count"] = min(fired, 3) / 3


def _plain_sentence(text: str, tokens: list[str], low: list[str]) -> dict[str, float] | None:
    """The fast path for the common line: a sentence of 9+ words ending in a full stop in
    which no cue word or cue shape can fire. It is :func:`declarative` and prose, so only the
    features those tests read are set (the exact same outcome as the full computation)."""
    nw = len(tokens)
    if nw < 9 or not text.rstrip().endswith((".", '."', ".”")) or low[0] in _FIRST_SKIP \
            or low[0] in CTA_VERBS or not more_words_than(text, 7) \
            or not _FAST_CUE_WORDS.isdisjoint(low) or "©" in text or "@" in text \
            or "http" in text or "www" in text or ".co" in text or _LABEL.match(text) \
            or separated(text) or _TIME.search(text):
        return None
    size = "shape:w9_15" if nw <= 15 else "shape:w16_30" if nw <= 30 else "shape:w31"
    return {size: 1.0, "shape:sentence_end": 1.0, GUARD: 1.0}


def _shape(text: str, tokens: list[str]) -> dict[str, float]:
    f: dict[str, float] = {}
    nw = len(tokens)
    f["shape:w1_3" if nw <= 3 else "shape:w4_8" if nw <= 8 else "shape:w9_15" if nw <= 15
      else "shape:w16_30" if nw <= 30 else "shape:w31"] = 1.0
    ended = bool(_SENT_END.search(text))
    if ended:
        f["shape:sentence_end"] = 1.0
    elif nw >= 12:
        f["shape:long_unended"] = 1.0
    if text.rstrip().endswith(("...", "…")):
        f["shape:ellipsis"] = 1.0
    if nw <= 30:  # a long line is never a title-cased heading
        alpha = [w for w in tokens if w[0].isalpha()]
        if len(alpha) >= 2 and sum(1 for w in alpha if w[0].isupper()) / len(alpha) >= 0.6:
            f["shape:title_case"] = 1.0
    if _LABEL.match(text):
        f["shape:label_prefix"] = 1.0
    if separated(text):
        f["shape:separators"] = 1.0
    if ("www" in text or "http" in text or ".co" in text or "@" in text) and _URL.search(text):
        f["shape:url"] = 1.0
    if "!" in text:
        f["shape:exclaim"] = 1.0
    if text.rstrip().endswith("?"):
        f["shape:question"] = 1.0
    if nw and tokens[0][:1].islower():
        f["shape:lower_start"] = 1.0
    return f


# one pass over a line's words: word -> bit mask of the lexicons it belongs to
_YOU, _WE, _OBJ, _SOC, _STAMP, _DATE, _TEASE, _LEGAL, _CREDIT, _SPEECH = (1 << i for i in range(10))
_LEX: dict[str, int] = {}
for _bit, _words in ((_YOU, SECOND_PERSON), (_WE, FIRST_PLURAL), (_OBJ, CTA_OBJECTS),
                     (_SOC, SOCIAL), (_STAMP, STAMP_WORDS), (_DATE, DATE_WORDS | TIME_UNITS),
                     (_TEASE, TEASER_WORDS), (_LEGAL, LEGAL_WORDS), (_CREDIT, CREDIT_WORDS),
                     (_SPEECH, SPEECH_VERBS)):
    for _w in _words:
        if not _w[0].isdigit():  # a word opening with a digit counts as a number only
            _LEX[_w] = _LEX.get(_w, 0) | _bit
_FIRST_CHAR = itemgetter(0)


def _lexical(f: dict[str, float], low: list[str], text: str) -> None:
    nw = max(1, len(low))
    start = 1 if len(low) > 1 and low[0] in _FIRST_SKIP else 0
    first = low[start] if len(low) > start else ""
    # "Follow-up work ..." and "Back-to-school ..." are not imperatives
    cta_first = first in CTA_VERBS and f"{first}-" not in text[:40].lower()
    # numbers (words opening with a digit), then the lexicon words, counted per bit mask
    digits = sum(map(str.isdigit, map(_FIRST_CHAR, low)))
    seen = objects = stamp = teaser = legal = 0
    dates = digits
    for m, k in Counter(filter(None, map(_LEX.get, low))).items():
        seen |= m
        if m & _OBJ:
            objects += k
        if m & _STAMP:
            stamp += k
        if m & _DATE:
            dates += k
        if m & _TEASE:
            teaser += k
        if m & _LEGAL:
            legal += k
    you, we = bool(seen & _YOU), bool(seen & _WE)
    if cta_first:
        f["cta:verb_first"] = 1.0
    if you:
        f["cta:you"] = 1.0
    if we:
        f["cta:we"] = 1.0
    if objects:
        f["cta:object"] = min(objects, 2) / 2
    if seen & _SOC:
        f["cta:social"] = 1.0
    if (cta_first or you) and (objects or we or (you and cta_first)):
        f["x:cta"] = 1.0
    if stamp:
        f["stamp:word"] = 1.0
        if nw <= 12:
            f["x:stamp_short"] = 1.0
    f["stamp:date_share"] = dates / nw
    if (dates or ":" in text or "." in text) and _TIME.search(text):
        f["stamp:time"] = 1.0
    if teaser and nw <= 8:
        f["teaser:short"] = min(teaser, 2) / 2
    legal += text.count("©")
    if legal:
        f["legal:word"] = min(legal, 2) / 2
    if seen & _CREDIT:
        f["credit:word"] = 1.0
    if seen & _SPEECH:
        f["ctx:speech"] = 1.0
    f["shape:digit_share"] = digits / nw
