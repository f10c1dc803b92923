"""``newsflow eval dedup FILE``: score the dedup stage on a labelled stream.

The stream (``{"id","cluster","kind","title","body"}`` per line, arrival order) goes through the
same cleaning and dedup code the pipeline runs, one article at a time, with a fresh in-memory
state. Scoring follows ../shared/data/README.md:

* pairwise precision/recall/F1 over all pairs of ids, predicted clusters being the transitive
  closure of the reported ``duplicate_of`` links;
* recall per ``kind``: of the gold pairs whose later article has that kind, the share merged;
* with a pairs file (``--pairs``, or ``<stem>-pairs.tsv`` beside FILE, as for ECB+): the share of
  ``copy`` pairs merged and of ``independent`` pairs merged (``ambiguous`` reported, not scored).
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import track
from rich.table import Table

from workers.records import CleanedArticle, RawArticle, Rejected
from workers.settings import Settings
from workers.stages.dedup import make_deduplicator
from workers.tools.evaluation.clusters import UnionFind


def _cleaner(settings: Settings) -> Any:
    try:
        from workers.stages.clean import make_cleaner
    except ImportError:  # the cleaning stage not yet in the tree: pass the text through
        return None
    return make_cleaner(settings)


def _clean(cleaner: Any, row: dict[str, Any]) -> CleanedArticle | Rejected:
    raw = RawArticle(id=row["id"], title=row.get("title"), body=row["body"],
                     content_type="text/plain")
    if cleaner is None:
        return CleanedArticle(id=raw.id, text=raw.body, title=raw.title)
    result: CleanedArticle | Rejected = cleaner.clean(raw)
    return result


def cluster_roots(links: dict[str, str | None]) -> dict[str, str]:
    """id -> root of its predicted cluster (transitive closure of duplicate_of links); links to
    ids outside ``links`` are ignored."""
    sets: UnionFind[str] = UnionFind(links)
    for i, j in links.items():
        if j is not None and j in links:
            sets.union(i, j)
    return sets.roots()


def _pair_scores(rows: list[dict[str, Any]], root: dict[str, str]) -> dict[str, Any]:
    gold: dict[str, list[int]] = defaultdict(list)
    for n, row in enumerate(rows):
        gold[row["cluster"]].append(n)
    pred: Counter[str] = Counter(root.values())
    predicted = sum(c * (c - 1) // 2 for c in pred.values())
    tp = 0
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for members in gold.values():
        for a, b in itertools.combinations(members, 2):  # a before b in the stream
            hit = root[rows[a]["id"]] == root[rows[b]["id"]]
            tp += hit
            by_kind[rows[b]["kind"]][0] += hit
            by_kind[rows[b]["kind"]][1] += 1
    positives = sum(len(m) * (len(m) - 1) // 2 for m in gold.values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / positives if positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "pairs_gold": positives, "pairs_predicted": predicted, "pairs_correct": tp,
        "precision": precision, "recall": recall, "f1": f1,
        "recall_by_kind": {k: hit / n for k, (hit, n) in sorted(by_kind.items())},
        "pairs_by_kind": {k: n for k, (_, n) in sorted(by_kind.items())},
    }


def _labelled_pairs(pairs: Path, root: dict[str, str]) -> dict[str, Any]:
    merged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in pairs.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        a, b, _, label = line.split("\t")
        counts = merged[label.strip()]
        counts[0] += root.get(a, a) == root.get(b, b)
        counts[1] += 1
    return {f"{label}_merged": hit / n for label, (hit, n) in sorted(merged.items())} | {
        f"{label}_pairs": n for label, (_, n) in sorted(merged.items())
    }


def eval_dedup(
    path: Path, settings: Settings, out: Path | None = None, pairs: Path | None = None
) -> dict[str, Any]:
    """Run the stream through clean + dedup, print a table and return the scores."""
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    if pairs is None:
        beside = path.with_name(f"{path.stem}-pairs.tsv")
        pairs = beside if beside.is_file() else None
    cleaner = _cleaner(settings)
    dedup = make_deduplicator(settings)
    links: dict[str, str | None] = {}
    kinds: Counter[str] = Counter()
    for row in track(rows, description=f"dedup {path.name}", transient=True):
        cleaned = _clean(cleaner, row)
        if isinstance(cleaned, Rejected):
            links[row["id"]] = None
            kinds["rejected"] += 1
            continue
        verdict = dedup.check(cleaned)
        links[row["id"]] = verdict.duplicate_of
        kinds[verdict.kind or "unique"] += 1
    root = cluster_roots(links)
    result: dict[str, Any] = {"articles": len(rows), "verdicts": dict(kinds),
                              "state_bytes_per_article": dedup.state_bytes / max(1, len(rows))}
    result |= _pair_scores(rows, root)
    if pairs is not None:
        result |= _labelled_pairs(pairs, root)
    if out is not None:
        out.write_bytes(b"".join(
            orjson.dumps({"id": i, "duplicate_of": j}) + b"\n" for i, j in links.items()))
    _print(result, path, cleaner is not None)
    return result


def _print(result: dict[str, Any], path: Path, cleaned: bool) -> None:
    table = Table(title=f"dedup on {path.name}" + ("" if cleaned else " (no cleaner: raw text)"))
    table.add_column("measure")
    table.add_column("value", justify="right")
    shown = ("articles", "pairs_gold", "pairs_predicted", "precision", "recall", "f1")
    for key in shown if result["pairs_gold"] else ("articles", "pairs_predicted"):
        value = result[key]
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    for kind, value in result["recall_by_kind"].items() if result["pairs_gold"] else ():
        table.add_row(f"recall {kind} ({result['pairs_by_kind'][kind]} pairs)", f"{value:.4f}")
    for key, value in result.items():
        if key.endswith("_merged"):
            label = key.removesuffix("_merged")
            table.add_row(f"{label} pairs merged (of {result[label + '_pairs']})", f"{value:.4f}")
    table.add_row("verdicts", ", ".join(f"{k} {v}" for k, v in sorted(result["verdicts"].items())))
    table.add_row("state bytes / article", f"{result['state_bytes_per_article']:.1f}")
    Console().print(table)


# --- a stream with rewrite rules of our own (a check of generalisation) -----------------------
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _rewrites(rng: random.Random, vocabulary: list[str]) -> dict[str, Callable[[str], str]]:
    def paragraphs(text: str) -> list[str]:
        return [p for p in text.split("\n\n") if p.strip()]

    def spin(share: float) -> Callable[[str], str]:
        return lambda t: " ".join(
            w if rng.random() >= share else rng.choice(vocabulary) for w in t.split()
        )

    return {
        "middle_excerpt": lambda t: "\n\n".join(
            paragraphs(t)[1 : max(2, len(paragraphs(t)) * 2 // 3)]
        ),
        "paragraph_shuffle": lambda t: "\n\n".join(rng.sample(paragraphs(t), len(paragraphs(t)))),
        "sentences_dropped": lambda t: " ".join(
            s for s in _SENTENCE_END.split(t) if rng.random() >= 0.3
        ),
        "teaser": lambda t: " ".join(t.split()[: max(20, len(t.split()) // 5)]),
        "typography": lambda t: t.replace("'", "\u2019").replace(" - ", " \u2014 ").upper(),
        "spin10": spin(0.10),
        "spin15": spin(0.15),
        "spin20": spin(0.20),
    }


def write_rewrite_stream(
    news: Path, out: Path, exclude: Path | None = None, n: int = 500, seed: int = 7
) -> int:
    """Write a dedup stream from ``news`` (news-dev.jsonl format) with rewrite rules that the
    dev stream does not use: ``n`` originals (not in ``exclude``'s clusters, distinct bodies),
    then one rewrite of each, the rule cycling; words for spinning come from other articles.
    Random replacement is harsher than synonym spinning. Returns the number of records."""
    rng = random.Random(seed)
    used = {orjson.loads(line)["cluster"] for line in exclude.read_bytes().splitlines()
            if line.strip()} if exclude else set()
    pool, bodies = [], set()
    for row in map(orjson.loads, news.read_bytes().splitlines()):
        if row["id"] not in used and row["body"] not in bodies:
            bodies.add(row["body"])
            pool.append(row)
    rng.shuffle(pool)
    vocabulary = [w for row in pool[n : n + 300] for w in row["body"].split()]
    rules = _rewrites(rng, vocabulary)
    names = list(rules)
    rows = [{"id": r["id"], "cluster": r["id"], "kind": "original", "title": r["title"],
             "body": r["body"]} for r in pool[:n]]
    copies = [{"id": f"{r['id']}~{names[i % len(names)]}", "cluster": r["id"],
               "kind": names[i % len(names)], "title": r["title"],
               "body": rules[names[i % len(names)]](r["body"])} for i, r in enumerate(pool[:n])]
    rng.shuffle(copies)
    out.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows + copies))
    return len(rows) + len(copies)


if __name__ == "__main__":
    import sys

    data = Settings().shared_data_dir
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "rewrites.jsonl")
    count = write_rewrite_stream(data / "news-dev.jsonl", target, data / "dedup-dev.jsonl")
    print(f"wrote {count} records to {target}; score with: newsflow eval dedup {target}")
