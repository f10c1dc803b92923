"""A missing HTML-extractor dependency is an error that names the module, never empty text.

The helper process imports ``HtmlExtractor.required`` before it reports ready; here one of those
modules does not exist, which is what an install without ``lxml_html_clean`` looks like to the
helper (a real ImportError in a real spawned process).
"""

from __future__ import annotations

import pytest

from workers.records import RawArticle, Rejected
from workers.settings import Settings
from workers.stages import clean_html
from workers.stages.clean import make_cleaner
from workers.stages.clean_html import ExtractorUnavailable, HtmlExtractor, probe_extractor

MISSING = "newsflow_test_module_that_does_not_exist"
PAGE = ("<html><body><article><h1>Ferry timetable changes</h1><p>The island ferry will sail "
        "hourly from Monday, the operator said, after new crew joined the service.</p>"
        "</article></body></html>")


def test_probe_names_the_missing_module() -> None:
    assert probe_extractor() is None  # the real dependencies of this install work
    problem = probe_extractor(("lxml", MISSING))
    assert problem is not None and MISSING in problem


def test_check_raises_naming_the_module() -> None:
    extractor = HtmlExtractor(1 << 20, 5.0, required=("lxml_html_clean", MISSING))
    try:
        with pytest.raises(ExtractorUnavailable, match=MISSING):
            extractor.check()
        with pytest.raises(ExtractorUnavailable, match=MISSING):  # remembered, not respawned
            extractor.extract(PAGE)
    finally:
        extractor.close()


def test_html_article_is_dead_lettered_not_emptied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clean_html, "REQUIRED_MODULES", ("trafilatura", MISSING))
    cleaner = make_cleaner(Settings())
    try:
        assert MISSING in (cleaner.readiness_problem() or "")  # -> /health/ready 503
        out, report = cleaner.clean_with_report(
            RawArticle(id="h1", body=PAGE, content_type="text/html"))
        assert isinstance(out, Rejected) and out.reason == "extraction_failed"
        assert MISSING in out.detail and out.article_id == "h1"
        assert report.extraction_failed and report.empty_body
        # plain text does not need the extractor and still cleans
        text = cleaner.clean(RawArticle(id="p1", body="The island ferry will sail hourly."))
        assert not isinstance(text, Rejected)
    finally:
        cleaner.close()


def test_eval_fails_instead_of_scoring_empty_texts(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: object) -> None:
    import orjson

    from workers.tools.evaluation.clean import eval_clean

    path = tmp_path / "html.jsonl"  # type: ignore[operator]
    row = {"id": "h1", "raw": PAGE, "gold": "The island ferry will sail hourly.",
           "junk_lines": [], "content_type": "text/html"}
    path.write_bytes(orjson.dumps(row) + b"\n")
    monkeypatch.setattr(clean_html, "REQUIRED_MODULES", (MISSING,))
    with pytest.raises(ExtractorUnavailable, match=MISSING):
        eval_clean(path, Settings(), loko=False)


def test_working_extractor_gives_text() -> None:
    cleaner = make_cleaner(Settings())
    try:
        assert cleaner.readiness_problem() is None
        out = cleaner.clean(RawArticle(id="h2", body=PAGE, content_type="text/html"))
        assert not isinstance(out, Rejected) and "ferry will sail hourly" in out.text
    finally:
        cleaner.close()
