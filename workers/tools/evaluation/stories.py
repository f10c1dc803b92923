"""``newsflow eval stories FILE``: B-cubed and pairwise scores of story clustering.

The file is in ``dedup-dev.jsonl`` format; the gold story is each record's ``story`` field (its
``cluster`` when there is none). Articles are decided in file order, one at a time, by the
clusterer of ``workers.stages.stories``. Entities come from the tagging stage, run once over all
articles and cached in memory for the run (about a minute for 2,400 articles).

Time: the dev files carry no timestamps, so the run uses a synthetic clock, one article a minute
in file order (2,439 articles span 41 hours, inside the default three-day quiet period: time
plays no part in these scores, only text and entities do).

With ``interleave=N``, N articles drawn (seed 0) from ``news-dev.jsonl`` beside the file are
mixed into the stream at random positions (seed 0), as unrelated traffic, and the file alone is
scored in the same run too (``alone``). They are scored as
singleton gold stories: an ECB+ article's B-cubed precision counts every article in its system
story, BBC ones included; ``bbc_joined_ecb`` is the share of BBC articles whose story holds an
ECB+ article.

Run it as ``python -m workers.tools.evaluation.stories FILE [--interleave N] [--out SYS.jsonl]``.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from workers.records import CleanedArticle, StoryArticle, StoryEntity
from workers.settings import Settings
from workers.stages.stories import StoryClusterer, make_story_clusterer

BACKGROUND_FILE = "news-dev.jsonl"
CLOCK_START = 1_700_000_000.0
CLOCK_STEP = 60.0
EntityCache = dict[str, tuple[StoryEntity, ...]]


def read_stream(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        row.setdefault("story", row.get("cluster", row["id"]))
    return rows


def interleave(rows: list[dict], background: Path, n: int, seed: int = 0) -> list[dict]:
    """``rows`` with ``n`` background articles mixed in; those get singleton stories."""
    extra = read_stream(background)
    picked = random.Random(seed).sample(range(len(extra)), min(n, len(extra)))
    added = [{**extra[i], "story": "bg:" + extra[i]["id"], "background": True}
             for i in sorted(picked)]
    slots = sorted(random.Random(seed + 1).sample(range(len(rows) + len(added)), len(added)))
    out, it_rows, it_added = [], iter(rows), iter(added)
    taken = set(slots)
    for position in range(len(rows) + len(added)):
        out.append(next(it_added) if position in taken else next(it_rows))
    return out


def tag_entities(rows: list[dict], settings: Settings, batch: int = 32) -> EntityCache:
    """Entities of every article from the tagging stage, as story-clustering tuples."""
    from workers.stages.entities import make_tagger

    tagger = make_tagger(settings)
    cache: EntityCache = {}
    for first in range(0, len(rows), batch):
        chunk = rows[first:first + batch]
        articles = [CleanedArticle(id=r["id"], text=r["body"], title=r.get("title"))
                    for r in chunk]
        for row, result in zip(chunk, tagger.tag_batch(articles), strict=True):
            found = result if isinstance(result, tuple) else ()
            cache[row["id"]] = tuple((e.name, e.qid, e.label, e.salience) for e in found)
    return cache


def story_articles(rows: Iterable[dict], entities: Mapping[str, tuple[StoryEntity, ...]]
                   ) -> list[StoryArticle]:
    """The rows as the clusterer reads them, in order, on the synthetic clock (module doc)."""
    return [StoryArticle(id=row["id"], text=row["body"], title=row.get("title"),
                         time=CLOCK_START + i * CLOCK_STEP, source=row.get("source"),
                         entities=tuple(entities.get(row["id"], ())))
            for i, row in enumerate(rows)]


def run(rows: Iterable[dict], entities: Mapping[str, tuple[StoryEntity, ...]],
        clusterer: StoryClusterer) -> dict[str, str]:
    """Decide every article in order on a synthetic clock; article id -> story id."""
    return {article.id: clusterer.decide(article).story_id
            for article in story_articles(rows, entities)}


def bcubed(gold: Mapping[str, str], system: Mapping[str, str],
           over: Iterable[str] | None = None) -> dict[str, float]:
    """B-cubed precision/recall/F1, averaged over the ids in ``over`` (default: all)."""
    ids = list(gold if over is None else over)
    p, r = bcubed_sums(gold, system, ids)
    return prf(p / len(ids), r / len(ids))


def bcubed_sums(gold: Mapping[str, str], system: Mapping[str, str],
                ids: Iterable[str]) -> tuple[float, float]:
    """The B-cubed precision and recall of each id in ``ids``, summed (clusters over all of
    ``gold``), so that scores of several runs can be averaged over their ids together."""
    pair_count = Counter((system[i], gold[i]) for i in gold)
    sys_size, gold_size = Counter(system.values()), Counter(gold.values())
    ids = list(ids)
    return (sum(pair_count[system[i], gold[i]] / sys_size[system[i]] for i in ids),
            sum(pair_count[system[i], gold[i]] / gold_size[gold[i]] for i in ids))


def pairwise(gold: Mapping[str, str], system: Mapping[str, str]) -> dict[str, float]:
    """Precision/recall/F1 over all pairs of ids put in one story."""
    def pairs(counter: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    both = pairs(Counter((system[i], gold[i]) for i in gold))
    found, true = pairs(Counter(system.values())), pairs(Counter(gold.values()))
    return prf(both / found if found else 1.0, both / true if true else 1.0)


def prf(p: float, r: float) -> dict[str, float]:
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


def score(rows: list[dict], system: Mapping[str, str]) -> dict:
    gold = {r["id"]: r["story"] for r in rows}
    main = [r["id"] for r in rows if not r.get("background")]
    result: dict = {"articles": len(main), "stories_gold": len({gold[i] for i in main}),
                    "stories_system": len({system[i] for i in main})}
    if len(main) == len(rows):
        result |= {"bcubed": bcubed(gold, system), "pairwise": pairwise(gold, system)}
        return result
    main_gold = {i: gold[i] for i in main}
    result |= {"bcubed": bcubed(gold, system, over=main),
               "pairwise": pairwise(main_gold, {i: system[i] for i in main})}
    main_stories = {system[i] for i in main}
    background = [r["id"] for r in rows if r.get("background")]
    result["background"] = len(background)
    result["bbc_joined_ecb"] = round(
        sum(system[i] in main_stories for i in background) / max(1, len(background)), 4)
    return result


def eval_stories(path: Path, settings: Settings, out: Path | None = None, interleave_n: int = 0,
                 entities: EntityCache | None = None) -> dict:
    """Cluster the file's articles in order, score against ``story``; optionally write links.

    With ``interleave_n``, the stream with the unrelated traffic is scored, and the file alone,
    decided by a fresh clusterer in the same run, under ``alone``; ``out`` gets the links of
    the interleaved stream.
    """
    alone = read_stream(path)
    rows = interleave(alone, path.parent / BACKGROUND_FILE, interleave_n) if interleave_n \
        else alone
    if entities is None:
        entities = tag_entities(rows, settings)
    system = run(rows, entities, make_story_clusterer(settings))
    if out is not None:
        with out.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({"id": row["id"], "story_id": system[row["id"]]}) + "\n")
    result = {"file": str(path), "interleaved": interleave_n, **score(rows, system)}
    if interleave_n:
        result["alone"] = score(alone, run(alone, entities, make_story_clusterer(settings)))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--interleave", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    print(json.dumps(eval_stories(args.file, Settings(), args.out, args.interleave), indent=2))


if __name__ == "__main__":
    main()
