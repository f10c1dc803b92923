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

:func:`protected` is the fail-safe: lines carrying figures, table rows next to figures and
quoted speech are never removed, whatever the model says.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from workers.stages.clean_rules import LineRules

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+(?:[.,:]\d+)*")
_SENT_END = re.compile(r"[.!?](\s*['\"’”)\]])*\s*$")
_LABEL = re.compile(r"^\s*[A-Za-z][\w'’ ]{0,24}?\s*[:|»›>–—]\s+\S")
_SEPARATOR = re.compile(r"\s[|>»›•·/→]\s")
_URL = re.compile(r"https?://|www\.|\.com\b|\.co\.uk\b|(^|\s)@\w")
_TIME = re.compile(r"\b\d{1,2}\s*[:.]\s*\d{2}\b|\b\d{1,2}\s*[ap]\.?m\b", re.IGNORECASE)
_YEAR = re.compile(r"^(19|20)\d\d$")
_NUMBER = re.compile(r"\d")
GUARD = "guard:sentence"  # marks a line :func:`declarative` keeps; it has no other features
_MIN_LIST = 4  # consecutive short cue-less lines that make a list of the article's own
_CLOCK = re.compile(r"^\d{1,2}[.:]\d{2}$")
_QUOTE = re.compile(r"[\"“”„«»]")

def lexicon(words: str) -> frozenset[str]:
    """A word list written as whitespace-separated text."""
    return frozenset(words.split())


# after a number in a stamp: "3rd", "5h ago", "10m ago"
_STAMP_SUFFIX = lexicon("st nd rd th h m d w s y mo hr hrs")

# --- lexicons: general English, written for this module (not taken from any dev file) ------------
CTA_VERBS = lexicon("""share subscribe sign signup register log login tap click press swipe
support donate contribute give follow join download install get try enable allow turn activate
upgrade unlock become read watch listen stream see view explore discover check visit learn find
tell send email e-mail comment like bookmark save print copy tweet pin continue keep stay help
consider chip back start claim grab shop buy order book opt reply rate vote manage update
thanks thank""")
SECOND_PERSON = lexicon("you your you're yours yourself you've you'll you'd u ur")
FIRST_PLURAL = lexicon("we our us we're we've we'll ours")
CTA_OBJECTS = lexicon("""newsletter newsletters inbox email e-mail emails app apps notification
notifications alert alerts push updates account subscription subscriptions subscriber subscribers
membership member members journalism reporting donation donations contribution contributions
podcast podcasts feed channel browser bell icon button link page article story stories comments
community premium offer trial access paywall digest briefing bulletin sign-up login password
readers reader supporter supporters patron patrons tips""")
SOCIAL = lexicon("""facebook twitter instagram whatsapp linkedin telegram tiktok youtube reddit
pinterest threads bluesky mastodon snapchat messenger flipboard rss""")
STAMP_WORDS = lexicon("""published updated posted modified edited ago originally filed
timestamp byline""")
TIME_UNITS = lexicon("""second seconds sec secs minute minutes min mins hour hours hr hrs day days
week weeks month months year years""")
DATE_WORDS = lexicon("""january february march april may june july august september october
november december jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday
thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun am pm a.m p.m gmt
bst utc cet cest et est edt ct cst cdt pt pst pdt aest ist today yesterday now just last on at
by first""")
MONTHS = lexicon("""january february march april may june july august september october
november december jan feb mar apr jun jul aug sep sept oct nov dec""")
TEASER_WORDS = lexicon("""most read popular trending related recommended more also latest top
viewed shared watched next previous picks headlines stories elsewhere around web sponsored
promoted partner miss don't must videos video galleries gallery editor's""")
LEGAL_WORDS = lexicon("""copyright © rights reserved cookie cookies privacy terms consent
permission reproduced redistributed republished rewritten broadcast trademark licence license
policy gdpr""")
CREDIT_WORDS = lexicon("""image images photo photos photograph photographs picture pictures
illustration graphic caption credit credits getty shutterstock alamy""")
# words that make some cue fire (besides the first-word verb): a line with none of them takes
# the fast path of :func:`_plain_sentence`
_FAST_CUE_WORDS = (SECOND_PERSON | FIRST_PLURAL | LEGAL_WORDS | STAMP_WORDS | SOCIAL
                   | CREDIT_WORDS)
_FIRST_SKIP = lexicon("please now and or so")  # "Please share ...", "Now download ..."
SPEECH_VERBS = lexicon("said says told added according")


@dataclass(frozen=True, slots=True)
class LineView:
    """What the feature code needs of one candidate line."""

    text: str  # whitespace-normalised line
    key: str  # lower-cased words, punctuation dropped (repeat key)
    stems: frozenset[str] = frozenset()  # content-word stems (see :func:`content_stems`)
    source_count: int = 0  # earlier articles of the same source holding this line
    recent_title_overlap: float = 0.0  # best word overlap with another recent title of the source


def words_of(text: str) -> list[str]:
    return _WORD.findall(text)


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


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A crude stem for overlap: a plural/verb suffix dropped, then the first six letters."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)][:6]
    return word[:6]


def content_stems(rules: LineRules, text: str) -> frozenset[str]:
    """Stems of the content words of ``text`` (overlap with the article and with titles)."""
    return _stems([w.lower() for w in words_of(text)], rules.stopwords)


def _stems(low: list[str], stopwords: frozenset[str]) -> frozenset[str]:
    out = set()
    for w in set(low).difference(stopwords):
        if w[0].isdigit():
            continue
        if "’" in w:
            w = w.replace("’", "'")
        if w.endswith("'s"):
            w = w[:-2]
        if len(w) > 1 and w not in stopwords:
            out.add(stem(w))
    return frozenset(out)


def article_features(rules: LineRules, lines: list[LineView], title: str | None,
                     edge_headlines: set[int]) -> list[dict[str, float]]:
    """One sparse feature dict per line of one article (see the module docstring)."""
    n = len(lines)
    toks = [words_of(ln.text) for ln in lines]
    lows = [words_of(ln.text.lower()) for ln in lines]
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
    for c, t, is_prose in zip(contents, toks, prose, strict=True):
        if is_prose:
            counts.update(c)
            caps_all.update({w for w in t[1:] if w[:1].isupper() and len(w) > 1})
    title_words = content_stems(rules, title) if title else frozenset()
    full = [p and len(t) >= 12 and "shape:sentence_end" in f
            for p, t, f in zip(prose, toks, base, strict=True)]
    first_full = full.index(True) if any(full) else n
    last_full = n - 1 - full[::-1].index(True) if any(full) else -1
    out: list[dict[str, float]] = []
    for i, ln in enumerate(lines):
        f = base[i]
        if declarative(ln.text, f):
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
            shared = sum(1 for w in own if counts[w] > prose[i])
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
        caps = {w for w in toks[i][1:] if w[:1].isupper() and len(w) > 1}
        if caps and any(caps_all[w] > prose[i] for w in caps):
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
            or low[0] in CTA_VERBS or len(text.split()) < 8 \
            or not _FAST_CUE_WORDS.isdisjoint(low) or "©" in text or "@" in text \
            or "http" in text or "www" in text or ".co" in text or _LABEL.match(text) \
            or _SEPARATOR.search(f" {text} ") or _TIME.search(text):
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
    if _SEPARATOR.search(f" {text} "):
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
        _LEX[_w] = _LEX.get(_w, 0) | _bit


def _lexical(f: dict[str, float], low: list[str], text: str) -> None:
    nw = max(1, len(low))
    start = 1 if len(low) > 1 and low[0] in _FIRST_SKIP else 0
    first = low[start] if len(low) > start else ""
    # "Follow-up work ..." and "Back-to-school ..." are not imperatives
    cta_first = first in CTA_VERBS and f"{first}-" not in text[:40].lower()
    seen = 0
    objects = stamp = dates = teaser = legal = digits = 0
    for w in low:
        m = _LEX.get(w, 0)
        if w[0].isdigit():
            digits += 1
            dates += 1
        elif m:
            seen |= m
            objects += bool(m & _OBJ)
            stamp += bool(m & _STAMP)
            dates += bool(m & _DATE)
            teaser += bool(m & _TEASE)
            legal += bool(m & _LEGAL)
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
        and features.get("legal:word", 0.0) < 1.0 and len(text.split()) >= 8


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
        return len(self.lines[i].text.split()) <= 8 and not has_cue(self.features[i],
                                                                    memory=False)

    def listed(self) -> set[int]:
        if self._listed is None:
            item = [len(ln.text.split()) <= 8 and "shape:sentence_end" not in f
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
        if bool(_QUOTE.search(text)) and len(text.split()) >= 6:
            return True
        if self._plain(i) and any(0 <= j < len(self.lines) and self._plain(j) and self.figure(j)
                                  for j in (i - 1, i + 1)):
            return True
        return i in self.listed()
