"""Unit tests of the cleaning stage: the seed article, junk families, what must be kept, HTML.

The junk phrasings below were written for these tests from the kinds of lines news sites carry;
they are deliberately NOT the phrasings of ../shared/data/cleaning-dev.jsonl, so the tests check
that each pattern family is general.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.records import REMOVAL_REASONS, CleanedArticle, RawArticle, Rejected
from workers.settings import Settings
from workers.stages.clean import Cleaner, make_cleaner

# Written for these tests (~120 words): the body that junk lines are put around.
BODY = [
    "Engineers at the city's water authority finished replacing the main pipe under Harbour "
    "Street on Tuesday, two weeks ahead of the schedule agreed with the council.",
    "The old cast-iron main, laid in 1911, burst twice last winter and left about 4,000 homes "
    "without water for a day, the authority said.",
    'Its chief engineer, Maria Okafor, said the crews had worked nights to keep the street open. '
    '"Nobody wants a trench outside their front door for a month," she said.',
    "The authority plans to replace a further 12 kilometres of pipe across the district by 2027.",
]


@pytest.fixture(scope="module")
def cleaner() -> Iterator[Cleaner]:
    built = make_cleaner(Settings())
    yield built
    built.close()


def _clean(cleaner: Cleaner, body: str, **kw: object) -> CleanedArticle:
    out = cleaner.clean(RawArticle(id="t", body=body, **kw))  # type: ignore[arg-type]
    assert isinstance(out, CleanedArticle), out
    return out


def test_seed_article(cleaner: Cleaner, seed_article: str) -> None:
    lines = [ln.strip() for ln in seed_article.splitlines() if ln.strip()]
    title, caption, newsletter = lines[0], lines[1], lines[10]
    foreign = lines[-2:]
    assert lines[2] == caption and "email" in newsletter  # the file is what the test assumes
    out = _clean(cleaner, seed_article, title=None)

    # the first line is a headline about the body: it becomes the title, not a paragraph
    assert out.title == title
    paragraphs = out.text.split("\n\n")
    assert paragraphs.count(caption) == 1
    assert newsletter not in out.text
    for headline in foreign:
        assert headline not in out.text
    expected = [ln for ln in lines[1:-2] if ln != newsletter]
    expected.remove(caption)  # the second copy
    assert paragraphs == expected  # every other line kept verbatim, in order
    assert {(r.text, r.reason) for r in out.removed} == {
        (caption, "repeated"), (newsletter, "boilerplate"),
        (foreign[0], "foreign_headline"), (foreign[1], "foreign_headline"),
    }
    assert out.language == "en" and out.language_confidence and out.language_confidence > 0.9


JUNK = [
    ("Get our free morning newsletter delivered straight to your inbox.", "boilerplate"),
    ("Sign up to the Weekly Roundup email for the best stories every Friday.", "boilerplate"),
    ("Subscribe to our YouTube channel for more videos", "boilerplate"),
    ("Log in or subscribe to read the full article.", "boilerplate"),
    ("Thanks for subscribing!", "boilerplate"),
    ("This site uses cookies. By continuing to browse the site you agree to our use of cookies.",
     "boilerplate"),
    ("We and our partners store and access information on your device.", "boilerplate"),
    ("Accept all", "boilerplate"),
    ("© 2023 Harbour Gazette Ltd. All rights reserved.", "boilerplate"),
    ("Copyright Agence France-Presse, 2011", "boilerplate"),
    ("This story may not be reproduced without permission.", "boilerplate"),
    ("Share this story: WhatsApp | Facebook | X | Email", "boilerplate"),
    ("Facebook Twitter LinkedIn Email", "boilerplate"),
    ("Follow @harbourgazette on Instagram", "boilerplate"),
    ("ADVERTISEMENT", "boilerplate"),
    ("Story continues below advertisement", "boilerplate"),
    ("Read more", "boilerplate"),
    ("Skip to main content", "boilerplate"),
    ("News | Local | Transport", "boilerplate"),
    ("Most Popular", "boilerplate"),
    ("3 min read", "boilerplate"),
    ("Related: Council approves new cycle lanes on the ring road", "foreign_headline"),
    ("Updated: 14:05 BST, 3 March 2021", "dateline"),
    ("Posted 3 hours ago", "dateline"),
    ("Tuesday 2 March 2021 09.12 GMT", "dateline"),
    ("By Thomas Whitfield, Transport Correspondent", "dateline"),
    ("Photograph: Joe Bloggs/Harbour Gazette", "caption_credit"),
    ("(AP Photo/Jane Roe)", "caption_credit"),
]


@pytest.mark.parametrize(("line", "reason"), JUNK)
def test_junk_line_removed_with_reason(cleaner: Cleaner, line: str, reason: str) -> None:
    body = "\n\n".join([BODY[0], BODY[1], line, BODY[2], BODY[3]])
    out = _clean(cleaner, body, title="Water main replaced early")
    assert out.text == "\n\n".join(BODY)
    assert [(r.text, r.reason) for r in out.removed] == [(line, reason)]


# Article sentences that mention the same things as junk lines: all must stay.
KEPT = [
    "Residents who sign up can get text alerts when the water is turned off.",
    "The council said it did not subscribe to the view that the work was rushed.",
    "Some websites use cookies to follow users, the regulator warned on Monday.",
    "Copyright law was not changed by the ruling, the judge said.",
    "Friday, 25 February",
    "2000 GMT",
    "Share prices in the firm rose 4% after the contract was announced.",
    "Follow-up work will take place on Harbour Street in the spring.",
    '"Did anyone ask the people who live here?"',
    "Advertisement revenue at the Gazette fell last year.",
]


@pytest.mark.parametrize("line", KEPT)
def test_article_lines_kept(cleaner: Cleaner, line: str) -> None:
    body = "\n\n".join([BODY[0], BODY[1], line, BODY[2], BODY[3]])
    out = _clean(cleaner, body, title="Water main replaced early")
    assert line in out.text.split("\n\n")
    assert out.removed == ()


def test_foreign_headlines_at_edges_but_not_own_last_lines(cleaner: Cleaner) -> None:
    foreign = ["Striker fined after late tackle", "Bakery chain posts record profits"]
    own_last = "Work on the district's pipes resumes in April"  # headline-shaped, shares words
    body = "\n".join([foreign[0], *BODY, own_last, foreign[1]])
    out = _clean(cleaner, body, title="Water main replaced early")
    assert out.text.split("\n\n") == [*BODY, own_last]
    assert [r.reason for r in out.removed] == ["foreign_headline", "foreign_headline"]
    # the article's own last sentence is never a headline, even when it shares nothing
    short_end = "Nobody was hurt."
    out = _clean(cleaner, "\n".join([*BODY, short_end]), title="Water main replaced early")
    assert out.text.split("\n\n")[-1] == short_end


def test_list_at_the_end_is_kept(cleaner: Cleaner) -> None:
    table = ["Anna Berg Sweden", "Luis Soto Chile", "Kemal Aydin Turkey", "Ruth Mwangi Kenya",
             "Pavel Novak Czechia", "Ines Costa Portugal", "Oskar Lind Norway"]
    out = _clean(cleaner, "\n".join([*BODY, *table]), title="Water main replaced early")
    assert out.text.split("\n\n") == [*BODY, *table]


def test_repeats_mojibake_and_whitespace(cleaner: Cleaner) -> None:
    body = (f"  {BODY[0]}\t\n\n\n{BODY[1]}\n{BODY[1]}\n\u200b\n"
            "The authority said residents donâ€™t need to boil water.\n"
            f"{BODY[3]}   \r\n")
    out = _clean(cleaner, body, title="Water main replaced early")
    assert out.text == "\n\n".join(
        [BODY[0], BODY[1], "The authority said residents don’t need to boil water.", BODY[3]])
    assert [r.reason for r in out.removed] == ["repeated", "empty"]
    assert all(r.reason in REMOVAL_REASONS for r in out.removed)


def test_pull_quote_contained_in_a_paragraph_is_a_repeat(cleaner: Cleaner) -> None:
    quote = '"Nobody wants a trench outside their front door for a month," she said.'
    out = _clean(cleaner, "\n".join([*BODY[:3], quote, BODY[3]]), title="Water")
    assert out.text.split("\n\n") == BODY
    assert [r.reason for r in out.removed] == ["repeated"]


def test_non_english_passes_through_with_language(cleaner: Cleaner) -> None:
    text = ("Les ingénieurs ont remplacé la conduite principale sous la rue du Port mardi, "
            "deux semaines plus tôt que prévu.\n\nLa vieille conduite avait éclaté deux fois "
            "l'hiver dernier, privant d'eau environ 4 000 foyers.\n\nLe chantier continue")
    out = _clean(cleaner, text, title="Conduite remplacée")
    assert out.language == "fr"
    assert out.text == text


def test_nothing_left_is_rejected(cleaner: Cleaner) -> None:
    out = cleaner.clean(RawArticle(id="x", body="Advertisement\n\nSkip to content\n\n \u200b"))
    assert isinstance(out, Rejected) and out.reason == "empty_after_cleaning"
    assert out.article_id == "x"


def test_metadata_is_kept(cleaner: Cleaner) -> None:
    raw = RawArticle(id="m", body="\n".join(BODY), title="T", url="https://example.org/a",
                     source="gazette", published_at="2021-03-02T09:12:00Z",
                     fetched_at="2021-03-02T10:00:00Z", ingested_at=12.5)
    out = _clean(cleaner, raw.body, title=raw.title, url=raw.url, source=raw.source,
                 published_at=raw.published_at, fetched_at=raw.fetched_at,
                 ingested_at=raw.ingested_at)
    assert (out.title, out.url, out.source, out.published_at, out.fetched_at, out.ingested_at) \
        == ("T", raw.url, "gazette", raw.published_at, raw.fetched_at, 12.5)


def _page(paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<html><head><title>Water main replaced early | Harbour Gazette</title>"
        '<meta name="author" content="Maria Lopez">'
        '<meta property="article:published_time" content="2021-03-02T09:12:00Z"></head><body>'
        '<header><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a>'
        "</nav></header><main><article><h1>Water main replaced early</h1>"
        f"{body}</article><aside><h3>Most read</h3><ul><li><a href='/x'>Bakery chain posts "
        "record profits</a></li></ul></aside></main><footer><p>© 2021 Harbour Gazette. All "
        "rights reserved.</p><p>We use cookies to improve your experience.</p></footer>"
        "</body></html>"
    )


def test_html_extraction(cleaner: Cleaner) -> None:
    out = cleaner.clean(RawArticle(id="h", body=_page(BODY), content_type="text/html"))
    assert isinstance(out, CleanedArticle), out
    assert out.text.split("\n\n") == BODY
    assert out.title and out.title.startswith("Water main replaced early")
    assert out.author == "Maria Lopez"
    assert out.published_at and out.published_at.startswith("2021-03-02")


def test_html_limits() -> None:
    tight = make_cleaner(Settings(html_timeout=0.000001))
    try:
        out = tight.clean(RawArticle(id="slow", body=_page(BODY * 200), content_type="text/html"))
        assert isinstance(out, Rejected) and out.reason == "extraction_failed"
        assert "longer than" in out.detail
    finally:
        tight.close()
    small = make_cleaner(Settings(html_max_bytes=200))
    assert small.extractor.cut("é" * 300).encode() == ("é" * 100).encode()
    small.close()


def test_eval_meets_targets_on_dev_file(shared_data: Path, tmp_path: Path) -> None:
    from workers.tools.evaluation.clean import eval_clean

    out = tmp_path / "sys.jsonl"
    metrics = eval_clean(shared_data / "cleaning-dev.jsonl", Settings(), out=out, worst=3)
    assert metrics["removal_precision"] >= 0.99
    assert metrics["removal_recall"] >= 0.95
    assert metrics["token_f1"] >= 0.99
    assert len(out.read_text().splitlines()) == metrics["articles"] == 300
    assert len(metrics["worst"]) == 3
