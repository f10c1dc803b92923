"""Unit tests of the dedup stage: verdict kinds, the seed article, state rebuild and expiry."""

from __future__ import annotations

import pytest

from workers.records import CleanedArticle
from workers.settings import Settings
from workers.stages.dedup import Deduplicator, event_time, make_deduplicator

# Written for this test: an independent report of the same NATO ministers' meeting (~150 words).
INDEPENDENT_REPORT = """\
Alliance defence chiefs spent two days in Brussels arguing over how far the organisation \
should go in the Middle East, and left with an agreement in principle rather than a plan.

Officials said the ministers asked their military staff to look at moving some instructors from \
the coalition that has fought Islamic State since 2014 into the alliance's own training effort. \
No figures were published, and several delegations stressed that Baghdad had not yet given its \
formal approval.

Canada, which commands the current mission near the Iraqi capital, welcomed the talks. Its \
minister told reporters that his soldiers were ready to stay if Iraq wanted them, while Germany \
and Spain asked for clearer rules before sending more people.

Diplomats expect the question to return at the next ministerial gathering in February, when \
members will also review spending pledges and the situation in Afghanistan, where training \
programmes for local forces continue.
"""

ALIAS = "North Atlantic Treaty Organisation"


def _alias_normaliser(text: str) -> str:
    # Stands in for KnowledgeBase.canonicalise_text: one alias spelled out -> canonical name.
    return text.replace(ALIAS, "NATO")


def _article(article_id: str, text: str, title: str | None = None, **times: str) -> CleanedArticle:
    return CleanedArticle(id=article_id, text=text, title=title, **times)  # type: ignore[arg-type]


@pytest.fixture
def dedup() -> Deduplicator:
    return make_deduplicator(Settings(), normalise=_alias_normaliser, state={})


@pytest.fixture(scope="module")
def seed_parts(seed_article: str) -> tuple[str, str]:
    """(headline, body) of the raw seed article, junk and all."""
    headline, _, body = seed_article.partition("\n")
    return headline, body.strip()


def _seed_cleaned_copy(body: str) -> str:
    """The seed body as a careful editor would publish it: NATO everywhere, junk removed."""
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
    seen: set[str] = set()
    kept = []
    for paragraph in paragraphs:
        if paragraph in seen or "your email" in paragraph:
            continue  # the caption captured twice, the newsletter line
        seen.add(paragraph)
        kept.append(paragraph.replace(ALIAS, "NATO"))
    return "\n\n".join(kept[:-1])  # the last block: two headlines of unrelated stories


@pytest.mark.parametrize("normaliser", [_alias_normaliser, None], ids=["kb-alias", "identity"])
def test_seed_copy_is_a_duplicate_and_an_independent_report_is_not(
    seed_parts: tuple[str, str], normaliser: object
) -> None:
    headline, body = seed_parts
    normalise = normaliser if normaliser is not None else (lambda text: text)
    dedup = make_deduplicator(Settings(), normalise=normalise, state={})  # type: ignore[arg-type]
    assert dedup.check(_article("seed", body, headline)).status == "unique"

    copy = _seed_cleaned_copy(body)
    assert ALIAS not in copy and "Final Fantasy" not in copy and copy != body
    verdict = dedup.check(_article("seed-copy", copy, "NATO to expand Iraq training mission"))
    assert (verdict.status, verdict.kind, verdict.duplicate_of) == ("duplicate", "near", "seed")
    assert verdict.containment is not None and verdict.containment >= 0.8

    independent = dedup.check(_article("independent", INDEPENDENT_REPORT, headline))
    assert independent.status == "unique", independent


def test_alias_normalisation_raises_similarity(seed_parts: tuple[str, str]) -> None:
    _, body = seed_parts
    scores = []
    for normalise in (lambda text: text, _alias_normaliser):
        dedup = make_deduplicator(Settings(), normalise=normalise, state={})
        dedup.check(_article("seed", body))
        verdict = dedup.check(_article("copy", _seed_cleaned_copy(body)))
        assert verdict.similarity is not None
        scores.append(verdict.similarity)
    assert scores[1] > scores[0]


def test_exact_copy_with_other_case_and_punctuation(dedup: Deduplicator) -> None:
    text = "The minister said: the plan is ready.\n\nTalks continue next week in Brussels."
    dedup.check(_article("a", text))
    verdict = dedup.check(_article("b", text.upper().replace(":", " -") + "  "))
    assert (verdict.kind, verdict.duplicate_of, verdict.similarity) == ("exact", "a", 1.0)


def test_redelivery_is_reported_as_itself_not_as_a_new_duplicate(dedup: Deduplicator) -> None:
    article = _article("x", INDEPENDENT_REPORT)
    assert dedup.check(article).status == "unique"
    again = dedup.check(article)
    assert (again.status, again.kind, again.duplicate_of) == ("duplicate", "redelivery", "x")
    copy = dedup.check(_article("y", INDEPENDENT_REPORT))
    assert copy.kind == "exact"
    assert dedup.check(_article("y", INDEPENDENT_REPORT)).kind == "redelivery"
    assert dedup.entries == 2


def test_truncated_teaser_and_updated_version_are_near_duplicates(
    dedup: Deduplicator, seed_parts: tuple[str, str]
) -> None:
    _, body = seed_parts
    full = _seed_cleaned_copy(body)
    dedup.check(_article("full", full))
    teaser = full[: len(full) // 3]
    teaser_verdict = dedup.check(_article("teaser", teaser))
    assert (teaser_verdict.kind, teaser_verdict.duplicate_of) == ("near", "full")
    assert teaser_verdict.similarity is not None and teaser_verdict.similarity < 0.5
    updated = dedup.check(_article("updated", full + "\n\nThe talks resume on Thursday morning."))
    assert updated.kind == "near"


def test_rebuild_from_state_gives_the_same_decisions(seed_parts: tuple[str, str]) -> None:
    _, body = seed_parts
    state: dict[str, bytes] = {}
    first = make_deduplicator(Settings(), normalise=_alias_normaliser, state=state)
    first.check(_article("seed", body))
    first.check(_article("other", INDEPENDENT_REPORT))
    restarted = make_deduplicator(Settings(), normalise=_alias_normaliser, state=state)
    assert restarted.entries == 2
    assert restarted.state_bytes == first.state_bytes > 0
    assert restarted.check(_article("seed", body)).kind == "redelivery"
    assert restarted.check(_article("copy", _seed_cleaned_copy(body))).duplicate_of == "seed"

    moved = make_deduplicator(Settings(), normalise=_alias_normaliser, state={})
    moved.bind_state(state)
    assert moved.entries == 3
    assert moved.check(_article("copy2", INDEPENDENT_REPORT)).duplicate_of == "other"


def test_entries_from_other_sketch_settings_only_mark_redeliveries(
    seed_parts: tuple[str, str],
) -> None:
    _, body = seed_parts
    state: dict[str, bytes] = {}
    make_deduplicator(Settings(), normalise=_alias_normaliser, state=state).check(
        _article("seed", body)
    )
    changed = make_deduplicator(
        Settings(dedup_shingle_size=5), normalise=_alias_normaliser, state=state
    )
    assert changed.check(_article("seed", body)).kind == "redelivery"
    assert changed.check(_article("copy", body)).status == "unique"


def test_expiry_by_event_time(dedup: Deduplicator) -> None:
    day = 86_400.0
    old = _article("old", INDEPENDENT_REPORT, published_at="2026-01-01T08:00:00+00:00")
    dedup.check(old)
    recent = CleanedArticle(id="recent", text="A different story about the harvest.",
                            ingested_at=event_time(old) + 6 * day)
    dedup.check(recent)
    bytes_before = dedup.state_bytes
    assert dedup.expire(event_time(old) + 6.5 * day) == 0
    assert dedup.expire(event_time(old) + 7.5 * day) == 1
    assert dedup.entries == 1 and dedup.state_bytes < bytes_before
    assert dedup.check(_article("later-copy", INDEPENDENT_REPORT)).status == "unique"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"published_at": "2026-03-01T00:00:00Z", "fetched_at": "2026-03-02T00:00:00Z"},
         1772323200.0),
        ({"published_at": "not a date", "fetched_at": "2026-03-02T00:00:00+00:00"}, 1772409600.0),
        ({"published_at": "2026-03-01T00:00:00"}, 1772323200.0),
        ({"ingested_at": 123.5}, 123.5),
    ],
)
def test_event_time(fields: dict[str, object], expected: float) -> None:
    assert event_time(CleanedArticle(id="a", text="t", **fields)) == expected  # type: ignore[arg-type]


def test_each_of_many_republications_is_linked_as_a_close_copy(
    seed_parts: tuple[str, str],
) -> None:
    _, body = seed_parts
    dedup = make_deduplicator(Settings(), normalise=_alias_normaliser, state={})
    dedup.check(_article("wire", body))
    for outlet in range(60):  # each outlet adds its own line: near, not exact, copies
        text = f"{body}\n\nPublished by outlet {outlet}."
        verdict = dedup.check(_article(f"outlet{outlet}", text))
        assert verdict.kind == "near" and verdict.similarity is not None
        assert verdict.similarity >= 0.9


def test_wordless_text_is_unique_and_not_indexed(dedup: Deduplicator) -> None:
    assert dedup.check(_article("a", "...  !!")).status == "unique"
    assert dedup.check(_article("b", "... ?")).status == "unique"


def test_default_normaliser_is_built_by_the_factory() -> None:
    dedup = make_deduplicator(Settings())
    assert dedup.check(_article("a", INDEPENDENT_REPORT)).status == "unique"
