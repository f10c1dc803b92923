"""The cleaning stage's line model on wordings it never saw (issue 13's two failure classes).

Every text below was written for this file. None of the junk lines is in cleaning-dev.jsonl,
and the call-to-action lines are checked not to match any phrase family of boilerplate.toml, so
what removes them is the model's general evidence (call-to-action verbs, second person, the
things a prompt asks for, position, overlap with the article). The wire reports are written in
the terse style of agency earnings and dividend items; every one of their lines must stay.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workers.records import CleanedArticle, RawArticle
from workers.settings import Settings
from workers.stages.clean import Cleaner, make_cleaner
from workers.stages.clean_guards import is_figure_line

BODY = [
    "The regional transit board approved a plan on Wednesday to run night buses on four routes "
    "from September, after a year of complaints from hospital and hotel workers.",
    "The trial will cost about 2.3 million a year and be paid from parking revenue, the board's "
    "finance director, Amal Rahimi, told the meeting.",
    '"People who keep the city running at night deserve a way home," said board member Tomas '
    'Lindqvist, who proposed the plan.',
    "Drivers' representatives said they would support the trial if rest breaks were protected.",
]
TITLE = "Night buses approved for four routes"

CALLS_TO_ACTION = [
    "Tap the bell icon to get breaking news alerts on your phone.",
    "Turn on notifications so you never miss an update from our reporters.",
    "Help keep our local reporting free for everyone: chip in today.",
    "Please consider backing our newsroom with a monthly contribution.",
    "Tell your friends about this story",
    "Enable push alerts for the latest headlines",
    "Donate now and keep independent local news alive",
    "Pass this article on: copy the link below",
    "If you value stories like this one, become a supporter for as little as the price of a "
    "coffee.",
    "Allow notifications to hear first when news breaks",
    "Got a story tip? Email our newsdesk",
]
STAMPS = [
    "Posted 3 hours ago",
    "Updated: 14:05 BST, 12 June 2024",
    "First posted on Thursday at 7.30am",
    "Last modified 20 minutes ago",
    "Wed 12 Jun 2024 09.41 EDT",
]

WIRE_EARNINGS = [
    "Harlow Instruments Inc said its board declared a regular quarterly dividend and reported "
    "higher first-quarter earnings on stronger sales of test equipment.",
    "Shr 41 cts vs 33 cts",
    "Net 4,210,000 vs 3,385,000",
    "Revs 61.2 mln vs 55.8 mln",
    "Avg shrs 10.3 mln vs 10.2 mln",
    "Nine mths",
    "Shr 1.12 dlrs vs 94 cts",
    "Net 11.5 mln vs 9.6 mln",
    "Qtly div 12 cts vs 12 cts prior",
    "Pay April 15",
    "Record March 31",
]
WIRE_DIVIDEND = [
    "Ostwald Foods Corp said its board raised the quarterly dividend.",
    "Qtly div nine cts vs eight cts prior",
    "Payable May 1",
    "Record April 10",
    "Note: the company said the increase reflects higher cash flow from its bakery unit.",
]


@pytest.fixture(scope="module")
def cleaner() -> Iterator[Cleaner]:
    built = make_cleaner(Settings())
    yield built
    built.close()


def _clean(cleaner: Cleaner, lines: list[str], title: str | None = TITLE,
           source: str | None = None) -> CleanedArticle:
    out = cleaner.clean(RawArticle(id="t", body="\n\n".join(lines), title=title, source=source))
    assert isinstance(out, CleanedArticle), out
    return out


@pytest.mark.parametrize("line", CALLS_TO_ACTION)
def test_calls_to_action_in_new_wordings_are_removed(cleaner: Cleaner, line: str) -> None:
    assert cleaner.rules.family_hit(line) is None  # no phrase family knows this wording
    out = _clean(cleaner, [*BODY[:2], line, *BODY[2:]])
    assert out.text.split("\n\n") == BODY
    assert [(r.text, r.reason) for r in out.removed] == [(line, "boilerplate")]


@pytest.mark.parametrize("line", STAMPS)
def test_stamp_lines_are_removed(cleaner: Cleaner, line: str) -> None:
    out = _clean(cleaner, [line, *BODY])
    assert out.text.split("\n\n") == BODY
    assert [r.reason for r in out.removed] == ["dateline"]


def test_stamps_score_as_junk_without_the_phrase_list(cleaner: Cleaner) -> None:
    """With every rule:* feature dropped, the model alone still finds the stamps."""
    for line in STAMPS:
        body = "\n\n".join([line, *BODY])
        kept = [ln for ln in cleaner._mark_lines(body, TITLE) if ln.reason is None]
        _, feats = cleaner.line_features(kept, TITLE, None)
        bare = {k: v for k, v in feats[0].items() if not k.startswith("rule:")}
        assert cleaner.model.is_junk(bare), (line, cleaner.model.probability(bare))


def test_most_read_teaser_block_is_removed(cleaner: Cleaner) -> None:
    teasers = ["Most Read Today", "Ferry strike enters its third week",
               "Council votes to shut two libraries", "Heatwave warning issued for the weekend",
               "Police name cyclist hurt in crash"]
    out = _clean(cleaner, [*BODY, *teasers])
    assert out.text.split("\n\n") == BODY
    assert len(out.removed) == len(teasers)


@pytest.mark.parametrize("report", [WIRE_EARNINGS, WIRE_DIVIDEND])
def test_wire_earnings_and_dividend_lines_are_kept(cleaner: Cleaner, report: list[str]) -> None:
    out = _clean(cleaner, report, title="Harlow Instruments 1st qtr net")
    assert out.removed == ()
    assert out.text.split("\n\n") == report


def test_wire_tables_kept_when_the_source_repeats_them() -> None:
    """Table labels ("Nine mths", "Pay ...") recur in every report of a wire source; the
    per-source repetition evidence must not remove them."""
    cleaner = make_cleaner(Settings(), memory_store={})
    try:
        for n in range(6):
            report = [WIRE_EARNINGS[0].replace("Harlow", f"Harlow{n}"), *WIRE_EARNINGS[1:]]
            out = _clean(cleaner, report, title=f"Company {n} 1st qtr net", source="wire")
            assert out.removed == (), (n, out.removed)
    finally:
        cleaner.close()


def test_boilerplate_repeated_across_a_source_is_removed_once_seen() -> None:
    """A line carried by every article of a source becomes junk evidence for the next one."""
    line = "Coverage of the region continues all week"  # no cue word
    cleaner = make_cleaner(Settings(), memory_store={})
    try:
        results = []
        for n in range(4):
            body = [f"{BODY[0]} Report {n}.", line, BODY[1], f"Item {n}: {BODY[3]}"]
            results.append(_clean(cleaner, body, source="gazette"))
        assert results[0].removed == ()  # first sight: nothing says it is junk
        assert [r.text for r in results[-1].removed] == [line]
    finally:
        cleaner.close()


@pytest.mark.parametrize(("line", "figure"), [
    ("Shr 41 cts vs 33 cts", True), ("Pay April 15", True), ("Revs 61.2 mln vs 55.8 mln", True),
    ("Posted 3 hours ago", False), ("Copyright 2024 The Gazette", False),
    ("Published 1 February 2020", False), ("Updated 10:34 GMT", False),
])
def test_figure_lines(line: str, figure: bool) -> None:
    assert is_figure_line(line) is figure


def test_article_sentence_with_cue_words_is_kept(cleaner: Cleaner) -> None:
    own = ["Riders can share their views on the routes at public meetings next month.",
           "The board said it would subscribe to a new ticketing system in the autumn."]
    out = _clean(cleaner, [*BODY[:2], *own, *BODY[2:]])
    assert out.removed == ()


def test_clean_report_for_per_source_health(cleaner: Cleaner) -> None:
    body = "\n\n".join([*BODY[:2], CALLS_TO_ACTION[0], *BODY[2:]])
    out, report = cleaner.clean_with_report(
        RawArticle(id="r", body=body, title=TITLE, source="gazette", language="de-DE"))
    assert isinstance(out, CleanedArticle)
    assert (report.source, report.lines_in, report.lines_removed) == ("gazette", 5, 1)
    assert report.removed_share == pytest.approx(0.2) and not report.empty_body
    assert (report.language_declared, report.language_detected) == ("de", "en")
    assert report.language_mismatch is True
    _, empty = cleaner.clean_with_report(RawArticle(id="e", body="Advertisement", source="g"))
    assert empty.empty_body and empty.language_mismatch is None
