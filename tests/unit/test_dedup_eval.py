"""The ``eval dedup`` scoring, on a small stream of our own and on the development streams."""

from __future__ import annotations

from pathlib import Path

import orjson

from workers.settings import Settings
from workers.tools.evaluation.dedup import cluster_roots, eval_dedup

STORY_A = (
    "The city council voted on Tuesday to close the old harbour bridge to cars from next spring, "
    "after engineers found corrosion in two of its steel supports.\n\n"
    "Buses and bicycles will still be allowed across while a replacement is designed, the council "
    "said, and the work is expected to take at least three years."
)
STORY_B = (
    "A small bakery in the north of the town has won a regional prize for its rye bread, beating "
    "more than forty entries from across the county.\n\n"
    "The owners, who opened the shop five years ago, said they would spend the prize money on a "
    "second oven and an apprentice."
)


def _stream(tmp_path: Path) -> Path:
    rows = [
        {"id": "a", "cluster": "a", "kind": "original", "title": "Bridge", "body": STORY_A},
        {"id": "b", "cluster": "b", "kind": "original", "title": "Bakery", "body": STORY_B},
        {"id": "a1", "cluster": "a", "kind": "truncated", "title": "Bridge",
         "body": STORY_A.split("\n\n")[0]},
        {"id": "a2", "cluster": "a", "kind": "copy", "title": "Bridge", "body": STORY_A.upper()},
        {"id": "b1", "cluster": "b", "kind": "updated", "title": "Bakery",
         "body": STORY_B + "\n\nThe bakery is closed on Mondays."},
    ]
    path = tmp_path / "stream.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_clusters_are_the_transitive_closure() -> None:
    root = cluster_roots({"a": None, "b": "a", "c": "b", "d": None, "e": "zzz"})
    assert root["a"] == root["b"] == root["c"]
    assert len({root["a"], root["d"], root["e"]}) == 3


def test_eval_on_own_stream_scores_and_writes_links(tmp_path: Path) -> None:
    out = tmp_path / "sys.jsonl"
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("a\ta2\t1.0\tcopy\na\tb\t0.0\tindependent\n", encoding="utf-8")
    result = eval_dedup(_stream(tmp_path), Settings(), out=out, pairs=pairs)
    assert result["pairs_gold"] == 4
    assert (result["precision"], result["recall"]) == (1.0, 1.0)
    assert result["recall_by_kind"] == {"copy": 1.0, "truncated": 1.0, "updated": 1.0}
    assert (result["copy_merged"], result["independent_merged"]) == (1.0, 0.0)
    links = {r["id"]: r["duplicate_of"] for r in map(orjson.loads, out.read_bytes().splitlines())}
    assert links == {"a": None, "b": None, "a1": "a", "a2": "a", "b1": "b"}


def test_eval_dedup_dev_meets_targets(shared_data: Path) -> None:
    result = eval_dedup(shared_data / "dedup-dev.jsonl", Settings())
    assert result["precision"] >= 0.995
    assert result["recall"] >= 0.97
    assert min(result["recall_by_kind"].values()) >= 0.95


def test_eval_ecb_dev_merges_copies_not_independent_reports(shared_data: Path) -> None:
    result = eval_dedup(shared_data / "ecb-dev.jsonl", Settings())  # pairs file found beside it
    assert result["independent_merged"] <= 0.002
    assert result["copy_merged"] >= 0.9
