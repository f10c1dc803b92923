"""Line rules of the cleaning stage, compiled once from ``workers/data/boilerplate.toml``.

The rules answer three questions about one normalised line:

* is it boilerplate (newsletter plea, cookie notice, copyright, share prompt, advert marker,
  related link, photo credit, byline)? -> a :data:`records.RemovalReason` or ``None``;
* is it a bare dateline/timestamp or a navigation crumb trail?
* is it shaped like a headline (short, no sentence ending), and which content words does it
  carry (for the "headline of another story" test in :mod:`workers.stages.clean`)?

All phrase knowledge lives in the TOML file; this module only knows how to apply it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from workers.records import REMOVAL_REASONS, RemovalReason
from workers.stages.clean_text import _TIME  # a time of day: one definition

_WORD = re.compile(r"\w+(?:['’]\w+)*")
_TOKEN = re.compile(r"[^\W\d_]+|\d+")
_SENTENCE_END = re.compile(r"[.!?;:](\s*['\"’”)\]])*\s*$")
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_OPENING_QUOTE = re.compile(r"^\s*[\"“„«]")
# A full timestamp: a date ("Dec 22", "4/9/2007") with a time of day ("8: 55 am", "10:34", "7pm")
# or a year ("Monday, July 22, 2013"); a bare "Friday, 25 February" may be a match report's.
_DATE = re.compile(r"\b\d{1,4}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*\d{2,4}\b|\b(jan|feb|mar|apr|may|jun|"
                   r"jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(st|nd|rd|th)?\b|\b\d{1,2}(st|nd|rd|th)?\s+(jan|"
                   r"feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)", re.IGNORECASE)


def default_rules_path() -> Path:
    """The boilerplate pattern file shipped with the package."""
    return Path(str(resources.files("workers") / "data" / "boilerplate.toml"))


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    reason: RemovalReason
    max_words: int
    pattern: re.Pattern[str]
    triggers: tuple[str, ...]  # empty: always try the pattern


class LineRules:
    """Compiled boilerplate, dateline, crumb and headline rules (built once per cleaner)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.families: list[_Family] = []
        for fam in data["family"]:
            reason = fam["reason"]
            if reason not in REMOVAL_REASONS:
                raise ValueError(
                    f"boilerplate family {fam['name']!r} has reason {reason!r}; "
                    f"use one of {REMOVAL_REASONS} (records.RemovalReason)"
                )
            flags = 0 if fam.get("case_sensitive") else re.IGNORECASE
            joined = "|".join(f"(?:{p})" for p in fam["patterns"])
            triggers = tuple(t.lower() for t in fam.get("triggers", ()))
            self.families.append(_Family(fam["name"], reason, int(fam["max_words"]),
                                         re.compile(joined, flags), triggers))
        self.date_words = frozenset(w.lower() for w in data["dateline_words"])
        self.date_anchors = frozenset(w.lower() for w in data["dateline_anchor_words"])
        self.date_max_tokens = int(data["dateline_max_tokens"])
        seps = "".join(re.escape(s) for s in data["crumb_separators"])
        self.crumb_split = re.compile(rf"\s+[{seps}]\s+")
        self.crumb_chars = re.compile(rf"[{seps}]")
        self.crumb_max_segment_words = int(data["crumb_max_segment_words"])
        self.crumb_max_segments = int(data["crumb_max_segments"])
        heads = data["headlines"]
        self.headline_max_words = int(heads["max_words"])
        self.headline_max_chars = int(heads["max_chars"])
        self.stopwords = frozenset(w.lower() for w in heads["stopwords"])

    @classmethod
    def load(cls, path: Path | None = None) -> LineRules:
        with open(path or default_rules_path(), "rb") as fh:
            return cls(tomllib.load(fh))

    # --- per-line questions ----------------------------------------------------------------
    def _hit(self, line: str) -> tuple[str, RemovalReason] | None:
        """(phrase family or shape rule, removal reason) of the first rule ``line`` matches."""
        words = len(line.split())
        low = line.lower()
        for fam in self.families:
            if words > fam.max_words or (fam.triggers and not any(t in low for t in fam.triggers)):
                continue
            if fam.pattern.search(line):
                return fam.name, fam.reason
        if self.is_dateline(line):
            return "dateline", "dateline"
        if self.is_crumb(line):
            return "crumb", "boilerplate"
        return None

    def junk_reason(self, line: str) -> RemovalReason | None:
        """Why ``line`` (ftfy-fixed, whitespace-normalised) is junk, or None to keep it."""
        hit = self._hit(line)
        return hit[1] if hit else None

    def family_hit(self, line: str) -> str | None:
        """The name of the first phrase family matching ``line`` ("dateline", "crumb" for the
        two shape rules), or None; a feature of the line model, not a decision."""
        hit = self._hit(line)
        return hit[0] if hit else None

    def family_reason(self, name: str) -> RemovalReason:
        """The audit-trail reason of a family named by :meth:`family_hit`."""
        for fam in self.families:
            if fam.name == name:
                return fam.reason
        return "dateline" if name == "dateline" else "boilerplate"

    def is_dateline(self, line: str) -> bool:
        """A publication stamp: only dates, times and date words, with "updated", "ago", ..."""
        tokens = _TOKEN.findall(line.lower())
        if not tokens or len(tokens) > self.date_max_tokens:
            return False
        if not all(t.isdigit() or t in self.date_words for t in tokens):
            return False
        if any(t in self.date_anchors for t in tokens):
            return True
        return bool(_DATE.search(line) and (_TIME.search(line) or _YEAR.search(line)))

    def is_crumb(self, line: str) -> bool:
        """A navigation trail such as "Home > World > Business"."""
        if _SENTENCE_END.search(line):
            return False
        parts = [p for p in self.crumb_split.split(line.strip()) if p]
        if not 2 <= len(parts) <= self.crumb_max_segments:
            return False
        # every separator must stand between spaces: "12/05/2020", "Begins/ Von" are not crumbs
        return all(
            0 < len(p.split()) <= self.crumb_max_segment_words and p[:1].isupper()
            and not self.crumb_chars.search(p)
            for p in parts
        )

    def is_headline_shaped(self, line: str) -> bool:
        """Short, no sentence-final full stop: how headlines of other stories look.

        A line ending in a parenthesis ("Joel Jutge (France)") is a list entry and one opening
        with a double quote is speech: neither is a headline. A question mark ends a sentence.
        """
        words = line.split()
        if line.endswith(")") or _OPENING_QUOTE.match(line):
            return False
        if not words or len(words) > self.headline_max_words or len(line) > self.headline_max_chars:
            return False
        stripped = line.rstrip(" '\"’”)")
        if stripped.endswith("...") or stripped.endswith("…"):
            return True
        return not _SENTENCE_END.search(line)

    def content_words(self, text: str) -> set[str]:
        """Lower-cased words that carry meaning (no stopwords, no one-letter words)."""
        out = set()
        for w in _WORD.findall(text.lower()):
            w = w.replace("’", "'")
            if w.endswith("'s"):
                w = w[:-2]
            if len(w) > 1 and w not in self.stopwords and not w.isdigit():
                out.add(w)
        return out


def shares_word(words: set[str], body: dict[str, list[str]]) -> bool:
    """Whether any of ``words`` occurs in ``body`` (see :func:`word_index`), allowing a short
    inflection: "Iraq"/"Iraqi", "elect"/"elected", "minister"/"ministers" match, whereas
    "organs"/"organisation" do not."""
    for w in words:
        for b in body.get(w[:4], ()):
            if b == w or (min(len(b), len(w)) >= 4 and abs(len(b) - len(w)) <= 3
                          and (b.startswith(w) or w.startswith(b))):
                return True
    return False


def word_index(words: set[str]) -> dict[str, list[str]]:
    """Words grouped by their first four characters, for :func:`shares_word`."""
    index: dict[str, list[str]] = {}
    for w in words:
        index.setdefault(w[:4], []).append(w)
    return index
