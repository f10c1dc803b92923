"""Comparing two ``eval entities --out`` files: micro counts, skipped mentions, the bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workers.tools.evaluation.entities import Document
from workers.tools.evaluation.entities_compare import (
    bootstrap,
    counts,
    load_spans,
    main,
    micro,
)

DOCS = [
    Document(["Ann", "Lee", "met", "@unicef", "in", "Oslo"],
             {(0, 2, "PER"), (3, 4, "ORG"), (5, 6, "LOC")}),
    Document(["#Paris", "hosts", "the", "Games"], {(0, 1, "LOC"), (3, 4, "MISC")}),
]
GOOD = [{(0, 2, "PER"), (5, 6, "LOC"), (3, 4, "ORG")}, {(0, 1, "LOC"), (3, 4, "MISC")}]
POOR = [{(0, 1, "PER"), (5, 6, "LOC")}, {(3, 4, "ORG")}]


def test_counts_score_per_org_loc_only_and_skip_mentions() -> None:
    assert counts(DOCS, GOOD) == [(3, 3, 3), (1, 1, 1)]
    assert counts(DOCS, POOR) == [(1, 2, 3), (0, 1, 1)]
    assert counts(DOCS, GOOD, skip="@#") == [(2, 2, 2), (0, 0, 0)]
    assert micro(counts(DOCS, POOR)) == pytest.approx((1 / 3, 1 / 4, 2 / 7))
    with pytest.raises(ValueError, match="1 documents of spans for 2"):
        counts(DOCS, GOOD[:1])


def test_bootstrap_of_a_system_against_itself_and_a_worse_one() -> None:
    good, poor = counts(DOCS, GOOD), counts(DOCS, POOR)
    assert bootstrap(poor, poor, rounds=50) == (0.0, 0.0, 0.0)  # paired: the same draw
    diff, low, high = bootstrap(good, poor, rounds=200)
    assert diff == pytest.approx(1 - 2 / 7)
    assert 0 < low <= diff <= high <= 1


def test_main_reads_out_files(tmp_path: Path, capsys) -> None:
    conll = tmp_path / "gold.conll"
    conll.write_text(
        "-DOCSTART- O\n\nAnn B-PER\nLee I-PER\nmet O\n@unicef B-ORG\nin O\nOslo B-LOC\n\n"
        "-DOCSTART- O\n\n#Paris B-LOC\nhosts O\nthe O\nGames B-MISC\n", encoding="utf-8")
    for name, found in (("a.jsonl", GOOD), ("b.jsonl", POOR)):
        rows = [{"doc": i, "spans": sorted(map(list, spans))} for i, spans in enumerate(found)]
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    assert load_spans(tmp_path / "a.jsonl") == GOOD
    main([str(conll), str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--rounds", "20"])
    out = capsys.readouterr().out
    assert "a.jsonl: P 1.000 R 1.000 F1 1.000 (tp 4, found 4, gold 4)" in out
    assert "F1 difference +0.714" in out
