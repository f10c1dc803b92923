"""Property and fuzz tests of the cleaning stage: no input crashes or stalls it.

Whatever arrives, ``Cleaner.clean`` returns a CleanedArticle or a Rejected with one of the
reasons a cleaner may give, within a bounded time; and cleaning only ever removes whole lines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from workers.records import CleanedArticle, RawArticle, Rejected
from workers.settings import Settings
from workers.stages.clean import _FTFY_NEEDED, FTFY_SAFE, Cleaner, _fix, make_cleaner, mend_line
from workers.stages.clean_text import _SEPARATOR, _TIME, _WORD, separated, words_of

CLEANER_REASONS = {"empty_after_cleaning", "extraction_failed"}


@pytest.fixture(scope="module")
def cleaner() -> Iterator[Cleaner]:
    built = make_cleaner(Settings(html_timeout=5.0))
    yield built
    built.close()


def _check(out: CleanedArticle | Rejected) -> None:
    if isinstance(out, Rejected):
        assert out.reason in CLEANER_REASONS, out
    else:
        assert out.text and out.text == out.text.strip()
        assert "\n\n\n" not in out.text
        assert all(p.strip() == p and p for p in out.text.split("\n\n"))


_lines = st.lists(
    st.one_of(
        st.text(max_size=120),
        st.sampled_from(["Advertisement", "Read more", "  ", "\u200b", "Home > News",
                         "Sign up for our newsletter", "Ã©tÃ©", "&amp; &lt;b&gt;"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.text(), title=st.one_of(st.none(), st.text(max_size=80)))
def test_arbitrary_unicode_never_crashes(cleaner: Cleaner, body: str, title: str | None) -> None:
    _check(cleaner.clean(RawArticle(id="p", body=body, title=title)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_lines)
def test_output_paragraphs_come_from_input_lines(cleaner: Cleaner, lines: list[str]) -> None:
    body = "\n".join(lines)
    out = cleaner.clean(RawArticle(id="p", body=body))
    _check(out)
    if isinstance(out, CleanedArticle):
        # every paragraph is one input line (any Unicode line break), mended and trimmed
        fixed = {mend_line(ln) for ln in body.splitlines()}
        assert all(p in fixed for p in out.text.split("\n\n"))
        assert out.title is None or out.title in fixed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.text(max_size=2000))
def test_arbitrary_html_never_crashes(cleaner: Cleaner, body: str) -> None:
    _check(cleaner.clean(RawArticle(id="h", body=f"<html><body>{body}</body></html>",
                                    content_type="text/html")))


def test_huge_text_is_bounded(cleaner: Cleaner) -> None:
    para = ("The committee met again on Thursday and agreed a longer timetable for the "
            "review of regional transport spending, officials said. ")
    body = "\n".join(f"{i} {para * 3}" for i in range(20_000))  # ~7 MB, 20k distinct lines
    start = time.perf_counter()
    out = cleaner.clean(RawArticle(id="big", body=body))
    assert isinstance(out, CleanedArticle)
    assert time.perf_counter() - start < 30
    one_line = "word " * 2_000_000  # 10 MB on one line
    start = time.perf_counter()
    _check(cleaner.clean(RawArticle(id="line", body=one_line)))
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deeply_nested_html_is_bounded(cleaner: Cleaner, depth: int) -> None:
    page = "<html><body>" + "<div>" * depth + "<p>deep text</p>" + "</div>" * depth + "</body>"
    start = time.perf_counter()
    out = cleaner.clean(RawArticle(id="deep", body=page, content_type="text/html"))
    _check(out)
    assert time.perf_counter() - start < 5.0 + 10  # the timeout plus process restart


def test_hostile_html_is_rejected_not_raised(cleaner: Cleaner) -> None:
    for page in ["", "<", "<html>", "\x00" * 100, "<p>" * 50_000, "<!--" + "-" * 100_000]:
        out = cleaner.clean(RawArticle(id="bad", body=page, content_type="text/html"))
        _check(out)
    # the helper process still works afterwards
    good = "<html><body><article>" + "<p>Paragraph of text that is long enough.</p>" * 5
    out = cleaner.clean(RawArticle(id="ok", body=good + "</article></body></html>",
                                   content_type="text/html"))
    assert isinstance(out, CleanedArticle)


# --- the ftfy shortcut of mend_line ----------------------------------------------------------
def _ftfy(text: str) -> str:
    import ftfy

    return ftfy.fix_text(text, uncurl_quotes=False, normalization="NFC")


_ascii_run = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), min_size=1,
                     max_size=12)
# ASCII runs with one safe non-ASCII character between them: the lines the shortcut takes
_safe_lines = st.lists(st.tuples(_ascii_run, st.sampled_from(FTFY_SAFE)), max_size=12).map(
    lambda parts: "".join(a + c for a, c in parts))
# the characters mojibake is made of, next to safe ones
_tricky = st.text(alphabet=st.sampled_from(
    [*FTFY_SAFE, *"ÂÃÎÐŒœØÙà√≈‚вГВβā€¢£¤¦¨¬¯¸ƒˆˇ˘˛˜†‡‰¬◊\ufffd\x85\x9c\xa0\xad\u2028ﬁＡ\u0301",
     *"aeAE .,&;'\"!?-\t\x1b"]), max_size=40)


# UTF-8 text read as Windows-1252 or Latin-1: real mojibake, much of it made of safe characters
# ("’" becomes "â€™")
_mojibake = st.tuples(st.text(alphabet=st.sampled_from([*FTFY_SAFE, *"aé €’ x"]), max_size=8),
                      st.sampled_from(["windows-1252", "latin-1"])).map(
    lambda t: t[0].encode("utf-8").decode(t[1], "replace"))


@settings(max_examples=1500, deadline=None)
@given(line=st.one_of(_safe_lines, _tricky, _mojibake, st.text(max_size=60)))
def test_ftfy_shortcut_returns_what_ftfy_returns(line: str) -> None:
    """Non-ASCII lines (pure ASCII without "&" has its own, older shortcut, which also keeps
    ASCII control characters ftfy would drop)."""
    assume(not line.isascii())
    assert _fix(line) == _ftfy(line)


def test_ftfy_shortcut_is_taken_for_ordinary_copy() -> None:
    line = "The £5m deal – agreed on Friday – was “a relief”, said José Müller… © 2024"
    assert _FTFY_NEEDED.search(line) is None
    assert _fix(line) == _ftfy(line) == line
    for mojibake, meant in (("Ã©tÃ©", "été"), ("itâ€™s", "it’s"), ("Â£5m", "£5m"),
                            ("â€œquotedâ€\x9d", "“quoted”"), ("costâ€”and", "cost—and")):
        assert _FTFY_NEEDED.search(mojibake) is not None, mojibake  # goes to ftfy
        assert _fix(mojibake) == meant


# --- the faster regexes of clean_text: the same answers as the plain ones they replace -------
_OLD_TIME = re.compile(r"\b\d{1,2}\s*[:.]\s*\d{2}\b|\b\d{1,2}\s*[ap]\.?m\b", re.IGNORECASE)
_timeish = st.text(alphabet="0123456789:. apmAPM\u00a0x_٣", max_size=30)


@settings(max_examples=2000, deadline=None)
@given(text=st.one_of(_timeish, st.text(max_size=40)))
def test_time_pattern_matches_as_the_plain_one(text: str) -> None:
    old, new = _OLD_TIME.search(text), _TIME.search(text)
    assert (old and old.span()) == (new and new.span())


@settings(max_examples=1000, deadline=None)
@given(text=st.one_of(st.text(alphabet=st.characters(max_codepoint=127), max_size=60),
                      st.text(alphabet="ab1'.,: _-9Z", max_size=30)))
def test_ascii_words_as_the_unicode_pattern(text: str) -> None:
    assert words_of(text) == _WORD.findall(text)


@settings(max_examples=1000, deadline=None)
@given(text=st.text(alphabet="ab |>»›•·/→\t\u00a0", max_size=20))
def test_separated_as_the_regex(text: str) -> None:
    assert separated(text) == bool(_SEPARATOR.search(f" {text} "))
