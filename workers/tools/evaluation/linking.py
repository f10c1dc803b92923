"""Entity-linking precision and coverage on the hand-labelled sample in tests/data/.

The sample lists mentions (article id, title or text, character offsets, surface, the model's
label) from ``news-dev.jsonl`` with the gold QID of the referent as the pinned data holds it, or
``-`` when the referent has no entry there (labelling rules: docs/entities.md). The articles are
run through the model and ``entities_resolve.resolve``; each gold mention takes the QID of the
output entity that has a mention overlapping it (none if no entity does).

* precision: correct QIDs / QIDs given, leaving out *unverifiable* ones - a QID given where the
  gold is ``-`` and the pinned data does not hold that QID (an old hand-typed id that may be
  right, but nothing here can show it);
* coverage: mentions given a QID / all mentions; recall: correct / mentions with a gold QID.

``python -m workers.tools.evaluation.linking [sample.tsv]`` prints the figures as JSON.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers.kb import DEFAULT_PATH, KnowledgeBase

SAMPLE = Path(__file__).resolve().parents[3] / "tests" / "data" / "linking-sample.tsv"

Linker = Callable[[str, str], dict[tuple[str, int, int], str | None]]


def read_sample(path: Path = SAMPLE) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in rows:
        row["start"], row["end"] = int(row["start"]), int(row["end"])
        row["gold"] = None if row["gold_qid"] == "-" else row["gold_qid"]
    return rows


def spacy_linker(kb: KnowledgeBase, model: str = "en_core_web_sm") -> Linker:
    """(title, text) -> {(part, start, end): qid} for every output mention of the pipeline."""
    from workers.stages.entities import load_pipeline
    from workers.stages.entities_resolve import resolve

    nlp = load_pipeline(model)

    def spans(text: str) -> list[tuple[int, int, str]]:
        return [(e.start_char, e.end_char, e.label_) for e in nlp(text).ents]

    def link(title: str, text: str) -> dict[tuple[str, int, int], str | None]:
        out: dict[tuple[str, int, int], str | None] = {}
        for entity in resolve(title, text, spans(title), spans(text), kb):
            for m in entity.mentions:
                out[("title" if m.in_title else "text", m.start, m.end)] = entity.qid
        return out

    return link


def score(sample: list[dict[str, Any]], predicted: list[str | None],
          known: set[str]) -> dict[str, Any]:
    """Precision, coverage and recall; ``known``: the QIDs the pinned data holds."""
    given = correct = unverifiable = 0
    for row, qid in zip(sample, predicted, strict=True):
        if qid is None:
            continue
        given += 1
        if qid == row["gold"]:
            correct += 1
        elif row["gold"] is None and qid not in known:
            unverifiable += 1
    with_gold = sum(1 for row in sample if row["gold"] is not None)
    judged = given - unverifiable
    return {"mentions": len(sample), "gold_linked": with_gold, "given": given,
            "correct": correct, "unverifiable": unverifiable,
            "precision": round(correct / judged, 3) if judged else None,
            "coverage": round(given / len(sample), 3),
            "recall": round(correct / with_gold, 3) if with_gold else None}


def eval_linking(sample_path: Path = SAMPLE, news: Path | None = None,
                 kb_path: Path | None = None, verify_with: Path = DEFAULT_PATH) -> dict[str, Any]:
    """Run the pipeline (knowledge base at ``kb_path``) on the sample's articles and score it."""
    from workers.settings import Settings

    sample = read_sample(sample_path)
    news = news or Path(Settings().shared_data_dir) / "news-dev.jsonl"
    wanted = {row["article"] for row in sample}
    articles = {}
    with news.open(encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            if item["id"] in wanted:
                articles[item["id"]] = item
    link = spacy_linker(KnowledgeBase.load(kb_path))
    found = {aid: link(a["title"], a["body"]) for aid, a in sorted(articles.items())}
    predicted = [_overlapping(found[row["article"]], row) for row in sample]
    return score(sample, predicted, known_qids(verify_with))


def known_qids(path: Path) -> set[str]:
    """The QIDs a knowledge-base file holds (read raw: works whichever code version runs)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    at = data["columns"].index("qid")
    return {row[at] for row in data["entities"] if row[at]}


def _overlapping(found: dict[tuple[str, int, int], str | None],
                 row: dict[str, Any]) -> str | None:
    for (part, start, end), qid in found.items():
        if part == row["part"] and start < row["end"] and row["start"] < end:
            return qid
    return None


if __name__ == "__main__":
    args = sys.argv[1:]
    print(json.dumps(eval_linking(*(Path(a) for a in args[:1]))))
