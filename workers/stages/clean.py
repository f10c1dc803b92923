"""The cleaning stage: a raw scraped article in, the article's own text out.

``make_cleaner(settings)`` builds a :class:`Cleaner` once (pattern rules from
``workers/data/boilerplate.toml``, the py3langid model, the HTML extractor). ``Cleaner.clean``
never raises: it returns a :class:`~workers.records.CleanedArticle` or a
:class:`~workers.records.Rejected`.

Steps, in order (docs/cleaning.md has the rationale):

1. HTML (``text/html``): trafilatura extracts title, body (one paragraph per line), author and
   date, bounded in size and time (:mod:`workers.stages.clean_html`).
2. ftfy mends mojibake and odd Unicode (curly quotes are kept as they are).
3. Each non-empty line is a paragraph. Whitespace inside it is normalised; then it is dropped
   when it is empty, boilerplate (pattern families), a dateline/crumb, or a repeat of an earlier
   line (or, at least 8 words long, contained in another paragraph).
4. Plain text without a title whose first line is a short headline sharing content words with
   the body: that line becomes the title (and leaves the body).
5. English text: leading and trailing headline-shaped lines that share no content word with the
   body are headlines of other stories and go.
6. Paragraphs are joined with one blank line; the language is detected with py3langid.

Every removed line is listed in ``CleanedArticle.removed`` with its reason code. The rules are
conservative: a junk line kept is better than an article sentence lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import ftfy
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from workers.records import CleanedArticle, RawArticle, Rejected, RemovalReason, RemovedLine
from workers.settings import Settings
from workers.stages.clean_html import ExtractionError, HtmlExtractor
from workers.stages.clean_rules import LineRules, shares_word, word_index

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"\s+")
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


@dataclass(slots=True)
class _Line:
    no: int  # 0-based index among the non-empty input lines
    raw: str
    text: str  # whitespace-normalised
    key: str  # lower-cased words only, for repeat detection
    reason: RemovalReason | None = None


def _normalise(line: str) -> str:
    return _SPACES.sub(" ", _INVISIBLE.sub("", line)).strip()


def mend_line(line: str) -> str:
    """A line as it appears in the output: ftfy-mended, invisible characters dropped, whitespace
    collapsed and trimmed."""
    return _normalise(_fix(line))


def _fix(text: str) -> str:
    if text.isascii() and "&" not in text:
        return text  # nothing ftfy could mend: plain ASCII without HTML entities
    return ftfy.fix_text(text, uncurl_quotes=False, normalization="NFC")


def _key(text: str) -> str:
    return _KEY_JUNK.sub(" ", text.casefold()).strip()


class Cleaner:
    """Cleans one raw article at a time; thread-safe (HTML extraction is serialised)."""

    def __init__(self, settings: Settings, rules: LineRules, langid: LanguageIdentifier,
                 extractor: HtmlExtractor) -> None:
        self.settings = settings
        self.rules = rules
        self.langid = langid
        self.extractor = extractor

    def clean(self, raw: RawArticle) -> CleanedArticle | Rejected:
        """Clean ``raw``; never raises (unexpected failures become ``processing_error``)."""
        try:
            return self._clean(raw)
        except Exception as exc:  # a poison message must not kill the agent
            return Rejected(reason="processing_error", article_id=getattr(raw, "id", None),
                            detail=f"cleaning failed: {type(exc).__name__}: {exc}"[:500])

    def close(self) -> None:
        """Stop the HTML extraction helper process."""
        self.extractor.close()

    # --- steps ---------------------------------------------------------------------------
    def _clean(self, raw: RawArticle) -> CleanedArticle | Rejected:
        title, author, published = raw.title, None, raw.published_at
        body = raw.body
        if raw.content_type == "text/html":
            try:
                page = self.extractor.extract(body)
            except ExtractionError as exc:
                return Rejected(reason="extraction_failed", detail=str(exc), article_id=raw.id)
            body, author = page.text, page.author
            title = title or page.title
            published = published or page.date
        if title is not None:
            title = mend_line(title) or None

        lines = self._mark_lines(body, title)
        kept = [ln for ln in lines if ln.reason is None]
        language, confidence = self._language(" ".join(ln.text for ln in kept))
        promoted = None
        if title is None and raw.content_type == "text/plain":
            promoted = self._promote_title(kept)
            if promoted is not None:
                title, kept = promoted.text, kept[1:]
        if language == "en":
            self._mark_foreign_headlines(kept, title)
        text = "\n\n".join(ln.text for ln in kept if ln.reason is None)
        if len(text) < max(1, self.settings.min_clean_chars) or not _HAS_WORD.search(text):
            return Rejected(reason="empty_after_cleaning", article_id=raw.id,
                            detail=f"{len(lines)} lines in, nothing of an article left")
        removed = tuple(RemovedLine(text=ln.raw.strip(), reason=ln.reason,
                                    line_no=ln.no) for ln in lines if ln.reason is not None)
        return CleanedArticle(
            id=raw.id, text=text, title=title, url=raw.url, source=raw.source,
            language=language, language_confidence=confidence, author=author,
            published_at=published, fetched_at=raw.fetched_at, ingested_at=raw.ingested_at,
            removed=removed,
        )

    def _mark_lines(self, body: str, title: str | None) -> list[_Line]:
        """Split into paragraphs and mark empty, boilerplate and repeated lines."""
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
            elif (reason := self.rules.junk_reason(text)) is not None:
                line.reason = reason
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

    @staticmethod
    def _mark_contained(lines: list[_Line]) -> None:
        """A long line found whole inside another kept paragraph is a repeat (pull quotes)."""
        kept = [ln for ln in lines if ln.reason is None]
        for line in kept:
            if line.key.count(" ") + 1 < _CONTAINMENT_MIN_WORDS:
                continue
            needle = f" {line.key} "
            for other in kept:
                if other is not line and other.reason is None and len(other.key) > len(line.key) \
                        and needle in f" {other.key} ":
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

    def _mark_foreign_headlines(self, kept: list[_Line], title: str | None) -> None:
        """Mark leading/trailing headline-shaped lines sharing no content word with the body."""
        shaped = self.rules.is_headline_shaped
        if not kept or not (shaped(kept[0].text) or shaped(kept[-1].text)):
            return  # the common case: the article starts and ends with sentences
        body = self._body_words(kept, None, title)
        if sum(map(len, body.values())) < _MIN_BODY_WORDS:
            return
        for order in (kept, kept[::-1]):
            run = []
            for line in order:
                if not self.rules.is_headline_shaped(line.text):
                    break
                run.append(line)
            if len(run) > _MAX_HEADLINE_RUN or len(run) == len(kept):
                continue  # a list or a table of the article's own (results, line-ups)
            for line in run:
                words = self.rules.content_words(line.text)
                if len(words) < _MIN_HEADLINE_WORDS or len(line.text.split()) < 3 \
                        or shares_word(words, body):
                    break  # the article's own short line: what lies beyond it is the article's
                line.reason = "foreign_headline"

    def _language(self, text: str) -> tuple[str | None, float | None]:
        sample = text[:_LANG_SAMPLE_CHARS]
        if not _HAS_WORD.search(sample):
            return None, None
        lang, prob = self.langid.classify(sample)
        return str(lang), round(float(prob), 4)


def make_cleaner(settings: Settings, rules_path: Path | None = None) -> Cleaner:
    """Build a cleaner: compile the line rules and load the language model once."""
    rules = LineRules.load(rules_path)
    langid = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    extractor = HtmlExtractor(settings.html_max_bytes, settings.html_timeout)
    return Cleaner(settings, rules, langid, extractor)
