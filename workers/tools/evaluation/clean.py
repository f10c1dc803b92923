"""``newsflow eval clean FILE.jsonl``: score the cleaning stage on a labelled file.

Each line of FILE is ``{"id","raw","gold","junk_lines"}`` plus optional ``title`` and
``content_type`` (default ``text/plain``), as in ../shared/data/cleaning-dev.jsonl. Every record
goes through the same :class:`~workers.stages.clean.Cleaner` the pipeline runs. Scoring follows
../shared/data/README.md:

* lines are compared after Unicode NFKC, curly quotes folded to straight and whitespace
  collapsed;
* removal precision/recall over lines: the lines the stage reports in ``removed`` against
  ``junk_lines``, as multisets (a repeated line counts once per copy);
* token precision/recall/F1 over lower-cased ``\\w+`` tokens of the output against ``gold``,
  micro-averaged over the file (a rejected record outputs nothing).

The worst articles (lowest token F1) are listed with what was missed and what was wrongly
removed. ``out`` writes each record's output as ``{"id","text"}``.

The file is read as one stream per ``source`` (field of the record, default ``dev``) with a
fresh per-source memory, as the worker sees a source's articles one after the other.

In the same run, unless ``loko=False``, the leave-one-kind-out estimate of
:mod:`workers.tools.evaluation.clean_train` is printed next to the ordinary scores: per junk kind, a
model fitted without that kind's lines and phrase families, scored out of fold.

When the file has HTML records and the extractor cannot start, or any HTML record fails because
the extractor is unavailable, :class:`~workers.stages.clean_html.ExtractorUnavailable` is raised
(the command exits non-zero) instead of scoring empty texts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import track
from rich.table import Table

from workers.records import CleanedArticle, RawArticle
from workers.settings import Settings
from workers.stages.clean import make_cleaner
from workers.stages.clean_html import ExtractorUnavailable
from workers.tools.evaluation.lines import norm_line, tokens


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _score_record(row: dict[str, Any], text: str, removed: list[str]) -> dict[str, Any]:
    junk = Counter(norm_line(j) for j in row.get("junk_lines", []) if j.strip())
    gone = Counter(norm_line(r) for r in removed)
    hit = junk & gone
    out_tok, gold_tok = tokens(text), tokens(row["gold"])
    common = sum((out_tok & gold_tok).values())
    return {
        "id": row["id"], "removed": sum(gone.values()), "junk": sum(junk.values()),
        "removed_ok": sum(hit.values()), "out_tokens": sum(out_tok.values()),
        "gold_tokens": sum(gold_tok.values()), "common_tokens": common,
        "missed": sorted((junk - gone).elements()), "wrong": sorted((gone - junk).elements()),
    }


def _totals(scores: list[dict[str, Any]]) -> dict[str, float]:
    def tot(key: str) -> int:
        return sum(int(s[key]) for s in scores)

    rp = tot("removed_ok") / tot("removed") if tot("removed") else 1.0
    rr = tot("removed_ok") / tot("junk") if tot("junk") else 1.0
    tp = tot("common_tokens") / tot("out_tokens") if tot("out_tokens") else 0.0
    tr = tot("common_tokens") / tot("gold_tokens") if tot("gold_tokens") else 0.0
    return {"removal_precision": rp, "removal_recall": rr, "token_precision": tp,
            "token_recall": tr, "token_f1": _f1(tp, tr)}


def eval_clean(path: Path, settings: Settings, out: Path | None = None, worst: int = 10,
               loko: bool = True) -> dict:
    """Score the cleaning stage on ``path``; print a table and return the metrics.

    Raises :class:`ExtractorUnavailable` when HTML records cannot be extracted at all.
    """
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    cleaner = make_cleaner(settings, memory_store={})
    scores: list[dict[str, Any]] = []
    outputs: list[dict[str, str]] = []
    rejected: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    unavailable: list[str] = []
    try:
        if any(row.get("content_type") == "text/html" for row in rows):
            cleaner.check_ready()  # raises ExtractorUnavailable, naming the missing module
        for row in track(rows, description=f"cleaning {path.name}"):
            raw = RawArticle(id=row["id"], body=row["raw"], title=row.get("title"),
                             content_type=row.get("content_type", "text/plain"),
                             source=row.get("source") or "dev")
            result, report = cleaner.clean_with_report(raw)
            if report.extraction_failed and "unavailable" in getattr(result, "detail", ""):
                unavailable.append(getattr(result, "detail", ""))
            if isinstance(result, CleanedArticle):
                text, removed = result.text, [r.text for r in result.removed]
                reasons.update(r.reason for r in result.removed)
            else:
                text, removed = "", []
                rejected[result.reason] += 1
            scores.append(_score_record(row, text, removed))
            outputs.append({"id": row["id"], "text": text})
    finally:
        cleaner.close()
    if unavailable:
        raise ExtractorUnavailable(f"{len(unavailable)} HTML records not extracted: "
                                   f"{unavailable[0]}")
    if out is not None:
        out.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in outputs))

    for s in scores:
        p = s["common_tokens"] / s["out_tokens"] if s["out_tokens"] else 0.0
        r = s["common_tokens"] / s["gold_tokens"] if s["gold_tokens"] else 0.0
        s["token_f1"] = _f1(p, r)
    ranked = sorted(scores, key=lambda s: (s["token_f1"], -len(s["wrong"]) - len(s["missed"])))
    metrics: dict[str, Any] = {"file": str(path), "articles": len(rows),
                               "rejected": dict(rejected), "removed_by_reason": dict(reasons),
                               **_totals(scores)}
    metrics["worst"] = [{k: s[k] for k in ("id", "token_f1", "missed", "wrong")}
                        for s in ranked[:worst]]
    _print(metrics)
    if loko and all(row.get("content_type", "text/plain") == "text/plain" for row in rows):
        from workers.tools.evaluation.clean_train import build_dataset, leave_one_kind_out

        metrics["leave_one_kind_out"] = leave_one_kind_out(build_dataset(path, settings))
        _print_loko(metrics["leave_one_kind_out"])
    return metrics


def _print_loko(m: dict[str, Any]) -> None:
    table = Table(title="leave-one-kind-out (model fitted without the kind's lines and phrase "
                  "families, 5 article folds)")
    for col in ("kind", "junk lines", "removal precision", "recall on kind"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    for kind, k in m["kinds"].items():
        table.add_row(kind, str(k["lines"]), f"{k['precision']:.4f}", f"{k['recall']:.4f}")
    table.add_row("pooled", str(sum(k["lines"] for k in m["kinds"].values())),
                  f"{m['precision']:.4f}", f"{m['recall']:.4f}")
    Console().print(table)


def _print(m: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"cleaning: {m['file']} ({m['articles']} articles)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("removal_precision", "removal_recall", "token_precision", "token_recall",
                "token_f1"):
        table.add_row(key, f"{m[key]:.4f}")
    table.add_row("rejected", str(sum(m["rejected"].values())))
    for reason, n in sorted(m["removed_by_reason"].items()):
        table.add_row(f"removed: {reason}", str(n))
    console.print(table)
    worst = Table(title="worst articles (lowest token F1)")
    for col in ("id", "token F1", "junk kept", "wrongly removed"):
        worst.add_column(col, overflow="fold")
    for w in m["worst"]:
        worst.add_row(w["id"], f"{w['token_f1']:.3f}", "\n".join(x[:80] for x in w["missed"]),
                      "\n".join(x[:80] for x in w["wrong"]))
    console.print(worst)


if __name__ == "__main__":
    import sys

    settings = Settings()
    try:
        eval_clean(Path(sys.argv[1]) if len(sys.argv) > 1 else
                   settings.shared_data_dir / "cleaning-dev.jsonl", settings)
    except ExtractorUnavailable as exc:
        print(f"error: HTML extraction unavailable: {exc}", file=sys.stderr)
        sys.exit(2)
