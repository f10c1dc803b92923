"""Extraction health of one cleaned article: what per-source metrics need.

:class:`CleanReport` travels next to the stage's result (``Cleaner.clean_with_report``), not
inside the record: the cleaned-article schema does not change.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.records import RawArticle


@dataclass(frozen=True, slots=True)
class CleanReport:
    """Extraction health of one article, for per-source metrics (not part of the record).

    ``removed_share``: removed lines / non-empty input lines (0 when there were none);
    ``empty_body``: nothing of an article was left (the article was rejected as
    ``empty_after_cleaning``) or extraction found no text; ``language_mismatch``: the raw
    record declared a language and the detected one differs (None when either is unknown).
    """

    source: str | None
    lines_in: int
    lines_removed: int
    removed_share: float
    empty_body: bool
    language_declared: str | None
    language_detected: str | None
    language_mismatch: bool | None
    extraction_failed: bool = False


def report(raw: RawArticle, lines_in: int, removed: int, language: str | None, *,
           empty: bool, failed: bool = False) -> CleanReport:
    """The report of one article (``language``: the detected one)."""
    declared = (raw.language or "").split("-")[0].lower() or None
    mismatch = None if declared is None or language is None else declared != language
    return CleanReport(source=raw.source, lines_in=lines_in, lines_removed=removed,
                       removed_share=removed / lines_in if lines_in else 0.0, empty_body=empty,
                       language_declared=declared, language_detected=language,
                       language_mismatch=mismatch, extraction_failed=failed)
