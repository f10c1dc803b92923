"""Compare two ``newsflow eval entities --out`` span files on the CoNLL file they were scored on.

Prints the micro P/R/F1 (PER/ORG/LOC, exact span and type) of each, and the F1 difference
(first minus second) with a 95 % interval from a paired bootstrap over documents: documents
are drawn with replacement, the same draw for both systems, and the difference of the two
micro F1 is taken on each draw. ``--skip @#`` leaves out, from gold and answers alike, the
spans whose first token starts with one of those characters (tweets' ``@handle`` mentions and
``#hashtags``, which no news model is trained to tag).

    python -m workers.tools.evaluation.entities_compare FILE A.jsonl B.jsonl [--skip @#]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from workers.tools.evaluation.entities import SCORED, Document, TokenSpan, read_conll

Counts = tuple[int, int, int]  # (true positives, answers, gold) of one document


def load_spans(path: Path) -> list[set[TokenSpan]]:
    """The spans of each document, in document order, from an ``--out`` file."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rows.sort(key=lambda row: row["doc"])
    return [{(int(s), int(e), str(k)) for s, e, k in row["spans"]} for row in rows]


def counts(docs: list[Document], found: list[set[TokenSpan]], skip: str = "") -> list[Counts]:
    """Per document: PER/ORG/LOC true positives, answers and gold spans."""
    if len(docs) != len(found):
        raise ValueError(f"{len(found)} documents of spans for {len(docs)} documents of gold")

    def kept(doc: Document, spans: set[TokenSpan]) -> set[TokenSpan]:
        return {s for s in spans if s[2] in SCORED and doc.tokens[s[0]][:1] not in skip}

    out = []
    for doc, answers in zip(docs, found, strict=True):
        gold, mine = kept(doc, doc.gold), kept(doc, answers)
        out.append((len(gold & mine), len(mine), len(gold)))
    return out


def micro(rows: list[Counts], draw: list[int] | None = None) -> tuple[float, float, float]:
    """Micro precision, recall and F1 over the documents of ``draw`` (all by default)."""
    picked = rows if draw is None else [rows[i] for i in draw]
    tp, found, gold = (sum(column) for column in zip(*picked, strict=True)) if picked else (0, 0, 0)
    precision = tp / found if found else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def bootstrap(first: list[Counts], second: list[Counts], rounds: int = 1000,
              seed: int = 0) -> tuple[float, float, float]:
    """F1 difference (first - second) and its 2.5th and 97.5th bootstrap percentiles."""
    rng = random.Random(seed)
    n = len(first)
    diffs = []
    for _ in range(rounds):
        draw = [rng.randrange(n) for _ in range(n)]
        diffs.append(micro(first, draw)[2] - micro(second, draw)[2])
    diffs.sort()
    low, high = diffs[int(0.025 * rounds)], diffs[int(0.975 * rounds) - 1]
    return micro(first)[2] - micro(second)[2], low, high


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the CoNLL file both were scored on")
    parser.add_argument("first", type=Path, help="--out file of the first system")
    parser.add_argument("second", type=Path, help="--out file of the second system")
    parser.add_argument("--skip", default="", help="first characters of spans to leave out")
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap draws")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    docs = read_conll(args.file)
    a = counts(docs, load_spans(args.first), args.skip)
    b = counts(docs, load_spans(args.second), args.skip)
    for path, rows in ((args.first, a), (args.second, b)):
        p, r, f = micro(rows)
        tp, found, gold = (sum(column) for column in zip(*rows, strict=True))
        print(f"{path.name}: P {p:.3f} R {r:.3f} F1 {f:.3f} (tp {tp}, found {found}, gold {gold})")
    diff, low, high = bootstrap(a, b, args.rounds, args.seed)
    print(f"F1 difference {diff:+.3f}, 95% bootstrap interval [{low:+.3f}, {high:+.3f}] "
          f"({args.rounds} draws of {len(docs)} documents, seed {args.seed})")


if __name__ == "__main__":
    main()
