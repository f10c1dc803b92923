"""The cleaning stage: a raw scraped article in, the article's own text out.

``make_cleaner(settings)`` builds a :class:`Cleaner` once (pattern rules from
``workers/data/boilerplate.toml``, the py3langid model, the HTML extractor). ``Cleaner.clean``
never raises: it returns a :class:`~workers.records.CleanedArticle` or a
:class:`~workers.records.Rejected`.

Steps, in order (docs/cleaning.md has the rationale):

1. HTML (``text/html``): trafilatura extracts title, body (one paragraph per line), author and
   date, bounded in size and time (:mod:`workers.stages.clean_html`).
2. ftfy mends mojibake and odd Unicode (curly quotes are kept as they are).
3. Each non-empty line is a paragraph. Whitespace inside it is normalised; empty lines and
   repeats of an earlier line (or, at least 8 words long, lines contained in another paragraph)
   are dropped. The language is detected with py3langid on what is left.
4. English text: each remaining line is judged on general evidence
   (:mod:`~workers.stages.clean_features`) by the line model
   (:mod:`~workers.stages.clean_model`), the edge-headline rule and a teaser-heading rule,
   under the fail-safe of :mod:`~workers.stages.clean_guards` (figures, table rows, quotes,
   lists and the article's own sentences are kept). Other languages get the phrase families.
   With a per-source memory (:mod:`~workers.stages.clean_memory`) lines repeated across a
   source's articles and other articles' titles are evidence too.
5. Plain text without a title whose first line is a short headline sharing content words with
   the body: that line becomes the title (and leaves the body).
6. Paragraphs are joined with one blank line.

Every removed line is listed in ``CleanedArticle.removed`` with its reason code;
:meth:`Cleaner.clean_with_report` also returns a :class:`CleanReport` (extraction health).
Removing article text is worse than keeping junk: when unsure, the line stays.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

import ftfy
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from workers.records import CleanedArticle, RawArticle, Rejected, RemovalReason, RemovedLine
from workers.settings import Settings
from workers.stages.clean_features import article_features, content_stems
from workers.stages.clean_guards import (
    GUARD,
    Protection,
    article_sentence,
    dense_figures,
    has_cue,
    protected,
    teaser_heading,
)
from workers.stages.clean_html import ExtractionError, ExtractorUnavailable, HtmlExtractor
from workers.stages.clean_lang import LanguageId
from workers.stages.clean_memory import Position, SourceMemory
from workers.stages.clean_model import LineModel
from workers.stages.clean_report import CleanReport
from workers.stages.clean_report import report as _report
from workers.stages.clean_rules import LineRules, shares_word, word_index
from workers.stages.clean_text import LineView

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_KEY_JUNK = re.compile(r"[\W_]+")
_HAS_WORD = re.compile(r"\w")
# Containment repeats are checked only when the text is at most this long (the check is
# quadratic in the number of lines; huge inputs keep exact-repeat removal only).
_CONTAINMENT_MAX_CHARS = 100_000
_CONTAINMENT_MIN_WORDS = 8
_LANG_SAMPLE_CHARS = 1200  # py3langid is as sure on 1,200 characters and 3x faster
# A leading/trailing line is judged as a possible foreign headline only when it has this many
# content words and the body has at least _MIN_BODY_WORDS of them to compare with.
_MIN_HEADLINE_WORDS = 2
_MIN_BODY_WORDS = 10
# More headline-shaped lines than this in a row at an edge are a list of the article's own.
_MAX_HEADLINE_RUN = 6
_TITLE_MAX_WORDS = 16  # longer lines are not compared with the source's recent titles


@dataclass(slots=True)
class _Line:
    no: int  # 0-based index among the non-empty input lines
    raw: str
    text: str  # whitespace-normalised
    key: str  # lower-cased words only, for repeat detection
    reason: RemovalReason | None = None


def _normalise(line: str) -> str:
    # whitespace runs -> one space, trimmed: str.split() splits on exactly the characters re's
    # \s matches (str.isspace), cheaper than a regex; the invisible characters are not ASCII
    if not line.isascii():
        line = _INVISIBLE.sub("", line)
    elif line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " ":
        return line  # normal already: the only whitespace printable ASCII has is the space
    return " ".join(line.split())


def mend_line(line: str) -> str:
    """A line as it appears in the output: ftfy-mended, invisible characters dropped, whitespace
    collapsed and trimmed."""
    return _normalise(_fix(line))


# Non-ASCII characters of ordinary English copy that ftfy leaves alone when none of them stands
# next to another non-ASCII character: every mojibake pattern of ftfy's badness heuristic
# needs two adjacent non-ASCII characters, except the C1 controls and lone Â, Ã, Œ, œ, which
# are not listed; none is a ligature, a full-width form, a control or format character, and all
# are NFC. tests/unit/test_clean_props.py checks the shortcut against ftfy.fix_text.
FTFY_SAFE = ("£€¥¢°±×÷½¼¾©®™§¶•·–—‘’“”…"
             "áàâäåçéèêëíìîïñóòôöõøúùûüýÿÁÀÄÅÇÉÈÊËÍÓÖÚÜÑØßæÆ")
# anything else (ASCII controls but tab, "&" of an HTML entity), or two safe ones side by side
_FTFY_NEEDED = re.compile(f"[^\t\x20-\x25\x27-\x7e{FTFY_SAFE}]|[{FTFY_SAFE}]{{2}}")


def _fix(text: str) -> str:
    if text.isascii():
        if "&" not in text:
            return text  # nothing ftfy could mend: plain ASCII without HTML entities
    elif not _FTFY_NEEDED.search(text):
        return text  # what ftfy.fix_text returns for it, at a 30th of the cost
    return ftfy.fix_text(text, uncurl_quotes=False, normalization="NFC")


# for the fast path of _key, a byte table: ASCII letters lower-cased, digits kept, the
# characters that are not word characters (\W or _) -> space
_ASCII_KEY = bytes(ord(c.lower()) if c.isalnum() else 32 for c in map(chr, range(128))) \
    + bytes(128)


def _key(text: str) -> str:
    if text.isascii():  # the same as the regex below, without it: [\W_] in ASCII is non-alnum
        return b" ".join(text.encode("ascii").translate(_ASCII_KEY).split()).decode("ascii")
    return _KEY_JUNK.sub(" ", text.casefold()).strip()


class Cleaner:
    """Cleans one raw article at a time; thread-safe (HTML extraction is serialised)."""

    def __init__(self, settings: Settings, rules: LineRules,
                 langid: LanguageId | LanguageIdentifier,
                 extractor: HtmlExtractor, model: LineModel | None = None,
                 memory: SourceMemory | None = None) -> None:
        self.settings = settings
        self.rules = rules
        self.langid = langid if isinstance(langid, LanguageId) else LanguageId(langid)
        self.extractor = extractor
        self.model = model if model is not None else LineModel.load()
        self.memory = memory

    def clean(self, raw: RawArticle, at: Position | None = None) -> CleanedArticle | Rejected:
        """Clean ``raw``; never raises (unexpected failures become ``processing_error``).

        ``at``: the article's ``(partition, offset)`` in the input topic; the source memory
        answers from the articles before it only, so a replay is cleaned as the first time.
        None: the position after the last one handed out (eval, bench, tests)."""
        return self.clean_with_report(raw, at)[0]

    def clean_with_report(self, raw: RawArticle, at: Position | None = None,
                          ) -> tuple[CleanedArticle | Rejected, CleanReport]:
        """Clean ``raw`` and report its extraction health; never raises."""
        try:
            return self._clean(raw, at)
        except Exception as exc:  # a poison message must not kill the agent
            rejected = Rejected(reason="processing_error", article_id=getattr(raw, "id", None),
                                detail=f"cleaning failed: {type(exc).__name__}: {exc}"[:500])
            return rejected, _report(raw, 0, 0, None, empty=False)

    def check_ready(self) -> None:
        """Raise :class:`ExtractorUnavailable` (naming the missing module) when the HTML
        extractor cannot start; call at start-up and from the readiness probe."""
        self.extractor.check()

    def readiness_problem(self) -> str | None:
        """None when the HTML extractor works, else why not (for /health/ready)."""
        try:
            self.check_ready()
        except ExtractorUnavailable as exc:
            return f"HTML extractor unavailable: {exc}"
        return None

    def close(self) -> None:
        """Stop the HTML extraction helper process."""
        self.extractor.close()

    # --- steps ---------------------------------------------------------------------------
    def _position(self, raw: RawArticle, at: Position | None) -> Position | None:
        if self.memory is None or not raw.source:
            return None
        return at if at is not None else self.memory.next_position()

    def _clean(self, raw: RawArticle, at: Position | None,
               ) -> tuple[CleanedArticle | Rejected, CleanReport]:
        at = self._position(raw, at)
        title, author, published = raw.title, None, raw.published_at
        body = raw.body
        if raw.content_type == "text/html":
            try:
                page = self.extractor.extract(body)
            except ExtractionError as exc:
                detail = str(exc)
                if isinstance(exc, ExtractorUnavailable):
                    detail = f"HTML extractor unavailable: {exc}"
                rejected = Rejected(reason="extraction_failed", detail=detail, article_id=raw.id)
                return rejected, _report(raw, 0, 0, None, empty=True, failed=True)
            body, author = page.text, page.author
            title = title or page.title
            published = published or page.date
        if title is not None:
            title = mend_line(title) or None

        lines = self._mark_lines(body, title)
        kept = [ln for ln in lines if ln.reason is None]
        language, confidence = self._language(" ".join(ln.text for ln in kept))
        self._judge(kept, title, language, raw.source, at)
        kept = [ln for ln in kept if ln.reason is None]
        if title is None and raw.content_type == "text/plain":
            promoted = self._promote_title(kept)
            if promoted is not None:
                title, kept = promoted.text, kept[1:]
        if self.memory is not None and raw.source and at is not None:
            self.memory.record(raw.source, (ln.key for ln in lines if ln.key),
                               self._title_words(title), at)
        text = "\n\n".join(ln.text for ln in kept if ln.reason is None)
        n_removed = sum(1 for ln in lines if ln.reason is not None)
        if len(text) < max(1, self.settings.min_clean_chars) or not _HAS_WORD.search(text):
            rejected = Rejected(reason="empty_after_cleaning", article_id=raw.id,
                                detail=f"{len(lines)} lines in, nothing of an article left")
            return rejected, _report(raw, len(lines), n_removed, None, empty=True)
        removed = tuple(RemovedLine(text=ln.raw.strip(), reason=ln.reason,
                                    line_no=ln.no) for ln in lines if ln.reason is not None)
        article = CleanedArticle(
            id=raw.id, text=text, title=title, url=raw.url, source=raw.source,
            language=language, language_confidence=confidence, author=author,
            published_at=published, fetched_at=raw.fetched_at, ingested_at=raw.ingested_at,
            removed=removed,
        )
        return article, _report(raw, len(lines), n_removed, language, empty=False)

    def _mark_lines(self, body: str, title: str | None) -> list[_Line]:
        """Split into paragraphs and mark empty and repeated lines (no model needed)."""
        lines: list[_Line] = []
        seen: set[str] = set()
        for raw_line in body.splitlines():
            if not raw_line.strip():
                continue
            text = mend_line(raw_line)
            line = _Line(no=len(lines), raw=raw_line, text=text, key=_key(text))
            lines.append(line)
            if not line.key:
                line.reason = "empty"
            elif line.key in seen:
                line.reason = "repeated"
            else:
                seen.add(line.key)
        if len(body) <= _CONTAINMENT_MAX_CHARS:
            self._mark_contained(lines)
        kept = [ln for ln in lines if ln.reason is None]
        if title and len(kept) > 1 and kept[0].key == _key(title) \
                and self.rules.is_headline_shaped(kept[0].text):
            kept[0].reason = "repeated"  # the title again as the body's first line (HTML h1)
        return lines

    def views(self, kept: list[_Line], source: str | None,
              at: Position | None) -> list[LineView]:
        """The model's view of the candidate lines, with what the source memory knows of the
        articles of the source before position ``at``."""
        mem = self.memory
        if mem is None or not source or at is None:
            return [LineView(ln.text, ln.key) for ln in kept]
        count = mem.counter(source, at)
        out = []
        for ln in kept:
            # titles are short: only a headline-length line can be another article's title
            if ln.key.count(" ") < _TITLE_MAX_WORDS:
                stems = content_stems(self.rules, ln.text)
                overlap = mem.title_overlap(source, stems, at)
            else:
                stems, overlap = frozenset(), 0.0
            out.append(LineView(ln.text, ln.key, stems, count(ln.key), overlap))
        return out

    def line_features(self, kept: list[_Line], title: str | None, source: str | None,
                      at: Position | None = None,
                      ) -> tuple[list[LineView], list[dict[str, float]]]:
        """Candidate lines and their features (what the model and its trainer see)."""
        views = self.views(kept, source, at)
        edge = self._edge_headlines(kept, title)
        return views, article_features(self.rules, views, title, edge)

    def _judge(self, kept: list[_Line], title: str | None, language: str | None,
               source: str | None, at: Position | None) -> None:
        """Mark the lines the model finds to be junk, unless they are protected."""
        if not kept:
            return
        if language not in (None, "en"):  # English cue words: other languages get the rules
            for ln in kept:
                ln.reason = self.rules.junk_reason(ln.text)
            return
        views, feats = self.line_features(kept, title, source, at)
        safe = Protection(views, feats)
        for i, (ln, f) in enumerate(zip(kept, feats, strict=True)):
            if GUARD in f:
                continue
            hit = next((k[5:] for k in f if k.startswith("rule:")), None)
            if "ctx:edge_headline_rule" in f:
                if not (dense_figures(f) and safe(i)):
                    # the structural edge rule decides on its own
                    ln.reason = self.rules.family_reason(hit) if hit else "foreign_headline"
            elif teaser_heading(ln.text):
                if not safe(i):
                    ln.reason = "boilerplate"
            elif self.model.is_junk(f) and not article_sentence(ln.text, f) and not safe(i):
                ln.reason = self.model.reason(f, self.rules.family_reason(hit) if hit else None)
        if all(ln.reason is not None for ln in kept):  # the model would leave nothing:
            for ln, f in zip(kept, feats, strict=True):  # keep what reads as prose
                if ln.reason != "foreign_headline" and "shape:sentence_end" in f \
                        and len(ln.text.split()) >= 5 and not has_cue(f):
                    ln.reason = None

    def featurise(self, raw: RawArticle, at: Position | None = None,
                  ) -> tuple[list[str], list[tuple[str, dict[str, float], bool]]]:
        """For training: the lines removed before the model (repeats, empty) and
        ``(line, features, protected)`` of each model candidate of a plain-text article, exactly
        as :meth:`clean` computes them; records the article in the memory."""
        at = self._position(raw, at)
        title = mend_line(raw.title) or None if raw.title else None
        lines = self._mark_lines(raw.body, title)
        kept = [ln for ln in lines if ln.reason is None]
        views, feats = self.line_features(kept, title, raw.source, at)
        if self.memory is not None and raw.source and at is not None:
            self.memory.record(raw.source, (ln.key for ln in lines if ln.key),
                               self._title_words(title), at)
        fixed = [ln.text for ln in lines if ln.reason is not None]
        return fixed, [(ln.text, f, p) for ln, f, p in zip(kept, feats, protected(views, feats),
                                                           strict=True)]

    def _title_words(self, title: str | None) -> frozenset[str]:
        return content_stems(self.rules, title) if title else frozenset()

    @staticmethod
    def _mark_contained(lines: list[_Line]) -> None:
        """A long line found whole inside another kept paragraph is a repeat (pull quotes)."""
        kept = [ln for ln in lines if ln.reason is None]
        padded = [f" {ln.key} " for ln in kept]
        for line, needle in zip(kept, padded, strict=True):
            if line.key.count(" ") + 1 < _CONTAINMENT_MIN_WORDS:
                continue
            head = needle[:24]  # a cheap first test: a long needle costs a set-up per search
            for other, hay in zip(kept, padded, strict=True):
                if other is not line and other.reason is None and len(hay) > len(needle) \
                        and head in hay and needle in hay:
                    line.reason = "repeated"
                    break

    def _body_words(self, kept: list[_Line], skip: _Line | None,
                    title: str | None) -> dict[str, list[str]]:
        words: set[str] = set()
        for ln in kept:
            if ln is not skip and ln.reason is None and not self.rules.is_headline_shaped(ln.text):
                words |= self.rules.content_words(ln.text)
        if title:
            words |= self.rules.content_words(title)
        return word_index(words)

    def _promote_title(self, kept: list[_Line]) -> _Line | None:
        """Plain text's first line as the title when it is a headline about this body."""
        if len(kept) < 2 or not self.rules.is_headline_shaped(kept[0].text):
            return None
        own = self.rules.content_words(kept[0].text)
        return kept[0] if shares_word(own, self._body_words(kept, kept[0], None)) else None

    def _edge_headlines(self, kept: list[_Line], title: str | None) -> set[int]:
        """Indices of leading/trailing headline-shaped lines sharing no content word with the
        body (the former foreign-headline rule, now one feature of the model)."""
        shaped = self.rules.is_headline_shaped
        out: set[int] = set()
        if not kept or not (shaped(kept[0].text) or shaped(kept[-1].text)):
            return out  # the common case: the article starts and ends with sentences
        body = self._body_words(kept, None, title)
        if sum(map(len, body.values())) < _MIN_BODY_WORDS:
            return out
        n = len(kept)
        for order in (range(n), range(n - 1, -1, -1)):
            run = []
            for i in order:
                if not shaped(kept[i].text):
                    break
                run.append(i)
            if len(run) > _MAX_HEADLINE_RUN or len(run) == n:
                continue  # a list or a table of the article's own (results, line-ups)
            for i in run:
                words = self.rules.content_words(kept[i].text)
                if len(words) < _MIN_HEADLINE_WORDS or len(kept[i].text.split()) < 3 \
                        or shares_word(words, body):
                    break  # the article's own short line: what lies beyond it is the article's
                out.add(i)
        return out

    def _language(self, text: str) -> tuple[str | None, float | None]:
        sample = text[:_LANG_SAMPLE_CHARS]
        if not _HAS_WORD.search(sample):
            return None, None
        lang, prob = self.langid.classify(sample)
        return str(lang), round(float(prob), 4)


def make_cleaner(settings: Settings, rules_path: Path | None = None,
                 model_path: Path | None = None,
                 memory_store: MutableMapping[str, bytes] | None = None,
                 memory_lines: int = 2000, memory_titles: int = 500,
                 memory_window: int | None = None) -> Cleaner:
    """Build a cleaner: compile the line rules, load the line model and the language model once.

    ``memory_store`` backs the per-source line/title memory (a Faust table in the worker, a dict
    in tests and the eval); None leaves the memory off. ``memory_lines``/``memory_titles`` bound
    it per source and generation, ``memory_window`` (default the setting) is the generation's
    length in offsets of a partition (:mod:`~workers.stages.clean_memory`).
    """
    rules = LineRules.load(rules_path)
    langid = LanguageId(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
    extractor = HtmlExtractor(settings.html_max_bytes, settings.html_timeout)
    window = settings.clean_memory_window if memory_window is None else memory_window
    memory = SourceMemory(memory_store, memory_lines, memory_titles, window) \
        if memory_store is not None else None
    return Cleaner(settings, rules, langid, extractor, LineModel.load(model_path), memory)
