"""Story clustering on the real broker: articles of two incidents from several outlets, spread
over the raw topic's partitions, end up as one story each; after a worker restart (state
restored from the changelogs) a new article still joins its incident's story, and a duplicate
joins its original's story without being counted. The texts are written for this test."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.conftest import collect, produce, running_worker
from workers.codec import Codec
from workers.settings import Settings

pytestmark = pytest.mark.integration

FLOOD = [
    (
        "Floods in Tarnavia",
        "Heavy rain caused the Selva river to burst its banks in the Tarnavian city of Dunmere "
        "on Thursday, forcing 12,000 people from their homes, the regional governor said.\n\n"
        "Army trucks carried families from flooded streets in Dunmere while the Selva kept "
        "rising. Governor Ilona Varga said two people had drowned.",
    ),
    (
        "Dunmere evacuated as Selva river rises",
        "Thousands fled Dunmere after the Selva river flooded the city's old town overnight. "
        "Governor Ilona Varga said 12,000 people had been evacuated and two had died.\n\n"
        "Forecasters warned of more rain over Tarnavia and the Selva basin on Friday.",
    ),
    (
        "Tarnavia floods: two dead in Dunmere",
        "Two people drowned in Dunmere when the Selva river overflowed, officials in Tarnavia "
        "said. Soldiers used boats to reach residents trapped on rooftops.\n\n"
        "Ilona Varga, the governor, asked the government for emergency funds for Dunmere.",
    ),
]
MERGER = [
    (
        "Halvorsen Bank to buy Crestline",
        "Halvorsen Bank agreed to buy rival lender Crestline Financial for $4.2 billion in "
        "cash, creating the third-largest bank in the region, the companies said on Monday.\n\n"
        "Halvorsen chief executive Marta Lund said the deal would close next year.",
    ),
    (
        "Crestline accepts $4.2 billion Halvorsen offer",
        "Crestline Financial's board accepted a $4.2 billion takeover offer from Halvorsen "
        "Bank. Crestline shareholders will receive $31 a share.\n\n"
        "Marta Lund, who runs Halvorsen, said no branches would close in the first year.",
    ),
    (
        "Halvorsen-Crestline deal faces scrutiny",
        "Regulators will review Halvorsen Bank's $4.2 billion purchase of Crestline Financial, "
        "a deal that would make Halvorsen the region's third-largest lender.\n\n"
        "Halvorsen's Marta Lund said she expected approval.",
    ),
]
AFTER_RESTART = (
    "Dunmere begins clean-up after Selva floods",
    "Residents of Dunmere returned to mud-filled homes as the Selva river fell on Saturday. "
    "Governor Ilona Varga said the Tarnavia flood had displaced 12,000 people and killed two.\n\n"
    "Army engineers began repairing the river walls in Dunmere.",
)
OUTLETS = ("herald", "courier", "gazette")


def message(aid: str, title: str, body: str, source: str, day: int) -> tuple[bytes, bytes]:
    doc = {
        "id": aid,
        "title": title,
        "body": body,
        "source": source,
        "published_at": f"2026-03-{day:02d}T10:00:00Z",
    }
    return aid.encode(), orjson.dumps(doc)


def test_two_incidents_two_stories_across_a_restart(run_config: Settings) -> None:
    codec = Codec()
    first = [
        message(f"flood-{i}", title, body, OUTLETS[i], 5 + i)
        for i, (title, body) in enumerate(FLOOD)
    ] + [
        message(f"merger-{i}", title, body, OUTLETS[i], 5 + i)
        for i, (title, body) in enumerate(MERGER)
    ]
    first.append((b"flood-0-copy", first[0][1].replace(b'"flood-0"', b'"flood-0-copy"')))
    with running_worker(run_config, "stories-a"):
        produce(run_config, first)
        records = collect(
            run_config, [run_config.topic_enriched, run_config.topic_duplicates], expected=7
        )
    enriched = {
        r.key.decode(): orjson.loads(r.value)
        for r in records
        if r.topic == run_config.topic_enriched
    }
    assert sorted(enriched) == sorted(k.decode() for k, _ in first[:-1]), records
    assert all(codec.errors("enriched", d) == [] for d in enriched.values())
    # The raw messages were spread over the partitions (keyed by id), so the story agent saw
    # articles coming from several clean and tag agents.
    assert len({r.partition for r in records if r.topic == run_config.topic_enriched}) >= 2
    flood = {enriched[f"flood-{i}"]["story_id"] for i in range(3)}
    merger = {enriched[f"merger-{i}"]["story_id"] for i in range(3)}
    assert len(flood) == 1 and len(merger) == 1 and flood != merger, (flood, merger)

    with running_worker(run_config, "stories-b"):  # a new process: state from the changelogs
        title, body = AFTER_RESTART
        produce(run_config, [message("flood-late", title, body, "tribune", 9)])
        later = collect(run_config, [run_config.topic_enriched], expected=7)
    late = [orjson.loads(r.value) for r in later if r.key == b"flood-late"]
    assert late and late[0]["story_id"] in flood

    updates = collect(run_config, [run_config.topic_stories], idle_timeout=5.0)
    stories = [orjson.loads(r.value) for r in updates]
    assert all(codec.errors("story", s) == [] for s in stories)
    assert all(r.key.decode() == s["story_id"] for r, s in zip(updates, stories, strict=True))
    final = [s for s in stories if s["story_id"] in flood][-1]
    assert final["article_count"] == 4 and final["duplicate_count"] == 1, final
    assert set(final["sources"]) >= {"herald", "courier", "gazette", "tribune"}
