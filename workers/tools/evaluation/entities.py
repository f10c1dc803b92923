"""``newsflow eval entities FILE``: span-and-type NER scores of the tagging stage vs bare spaCy.

The file is CoNLL-2003 style (``word POS chunk NER`` per line, IOB tags, ``-DOCSTART-`` between
documents). Each document's text is its tokens joined by single spaces; the stage sees it as a
title-less ``CleanedArticle``. Both the bare model (``nlp.pipe``, the same pipeline the stage
loads) and the stage are scored in the same run, with OntoNotes labels mapped to CoNLL types
(PERSON->PER, ORG->ORG, GPE/LOC/FAC->LOC, NORP/EVENT/PRODUCT/WORK_OF_ART/LAW/LANGUAGE->MISC).
Scores: exact span and type, per type, micro-averaged over PER, ORG and LOC.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from workers.records import CleanedArticle
from workers.settings import Settings
from workers.stages.entities import Tagger, make_tagger

ONTONOTES_TO_CONLL = {
    "PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
    "NORP": "MISC", "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC",
    "LAW": "MISC", "LANGUAGE": "MISC",
}
SCORED = ("PER", "ORG", "LOC")
TokenSpan = tuple[int, int, str]  # (first token, end token exclusive, CoNLL type)


@dataclass
class Document:
    tokens: list[str]
    gold: set[TokenSpan]
    starts: list[int] = field(default_factory=list)  # character offset of each token

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def conll_blocks(lines: Iterable[str]) -> Iterator[tuple[list[str], list[str]]]:
    """(words, tags) of each document of CoNLL lines (word first, tag last; ``-DOCSTART-``
    between documents; blank lines ignored)."""
    words: list[str] = []
    tags: list[str] = []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "-DOCSTART-":
            if words:
                yield words, tags
            words, tags = [], []
            continue
        words.append(parts[0])
        tags.append(parts[-1])
    if words:
        yield words, tags


def read_conll(path: Path) -> list[Document]:
    """Documents with their gold spans (IOB1 or IOB2 tags)."""
    docs = [Document(words, iob_spans(tags))
            for words, tags in conll_blocks(path.read_text(encoding="utf-8").splitlines())]
    for doc in docs:
        position = 0
        for token in doc.tokens:
            doc.starts.append(position)
            position += len(token) + 1
    return docs


def iob_spans(tags: list[str]) -> set[TokenSpan]:
    """(first token, end token, type) of each entity in IOB1 or IOB2 tags."""
    spans: set[TokenSpan] = set()
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        if start >= 0 and (prefix in ("O", "B") or label != kind):
            spans.add((start, i, kind))
            start = -1
        if prefix in ("B", "I") and start < 0:
            start, kind = i, label
    return spans


def to_tokens(doc: Document, start: int, end: int) -> tuple[int, int]:
    """Character span -> token span (tokens touched by the characters)."""
    first = bisect_right(doc.starts, start) - 1
    last = bisect_right(doc.starts, max(start, end - 1)) - 1
    return max(first, 0), last + 1


def _mapped(doc: Document, spans: Iterable[tuple[int, int, str]]) -> set[TokenSpan]:
    out = set()
    for start, end, label in spans:
        kind = ONTONOTES_TO_CONLL.get(label)
        if kind is not None:
            out.add((*to_tokens(doc, start, end), kind))
    return out


def bare_spans(tagger: Tagger, docs: list[Document]) -> list[set[TokenSpan]]:
    """The bare model's spans (``nlp.pipe`` on the same pipeline)."""
    texts = (doc.text for doc in docs)
    return [
        _mapped(doc, ((e.start_char, e.end_char, e.label_) for e in parsed.ents))
        for doc, parsed in zip(docs, tagger.nlp.pipe(texts, batch_size=32), strict=True)
    ]


def stage_spans(tagger: Tagger, docs: list[Document], batch: int = 32) -> list[set[TokenSpan]]:
    """The stage's mentions, every mention of every entity, as token spans."""
    out: list[set[TokenSpan]] = []
    for first in range(0, len(docs), batch):
        chunk = docs[first:first + batch]
        articles = [CleanedArticle(id=str(first + i), text=d.text) for i, d in enumerate(chunk)]
        for doc, result in zip(chunk, tagger.tag_batch(articles), strict=True):
            if not isinstance(result, tuple):
                raise RuntimeError(f"the stage rejected a document: {result.detail}")
            out.append(_mapped(doc, (
                (m.start, m.end, e.label) for e in result for m in e.mentions if not m.in_title
            )))
    return out


def score(gold: list[set[TokenSpan]], found: list[set[TokenSpan]]) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 per type and micro over PER/ORG/LOC."""
    table: dict[str, dict[str, float]] = {}
    totals = [0, 0, 0]
    for kind in (*SCORED, "MISC"):
        tp = sum(len({s for s in g if s[2] == kind} & f) for g, f in zip(gold, found, strict=True))
        n_found = sum(1 for f in found for s in f if s[2] == kind)
        n_gold = sum(1 for g in gold for s in g if s[2] == kind)
        table[kind] = _prf(tp, n_found, n_gold)
        if kind in SCORED:
            totals = [totals[0] + tp, totals[1] + n_found, totals[2] + n_gold]
    table["micro"] = _prf(*totals)
    return table


def _prf(tp: int, n_found: int, n_gold: int) -> dict[str, float]:
    precision = tp / n_found if n_found else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "gold": n_gold, "found": n_found}


def eval_entities(path: Path, settings: Settings, out: Path | None = None) -> dict:
    """Score bare spaCy and the stage on a CoNLL file; print a table; return the scores."""
    from rich.console import Console
    from rich.progress import track
    from rich.table import Table

    console = Console()
    docs = read_conll(path)
    tagger = make_tagger(settings)
    gold = [doc.gold for doc in docs]
    bare = bare_spans(tagger, list(track(docs, description="bare spaCy", console=console)))
    found: list[set[TokenSpan]] = []
    for first in track(range(0, len(docs), 32), description="stage", console=console):
        found += stage_spans(tagger, docs[first:first + 32])
    scores = {"bare": score(gold, bare), "stage": score(gold, found)}
    result = {"file": str(path), "model": settings.spacy_model, "documents": len(docs), **scores}
    if out is not None:
        with out.open("w", encoding="utf-8") as handle:
            for index, spans in enumerate(found):
                handle.write(json.dumps({"doc": index, "spans": sorted(map(list, spans))}) + "\n")
    table = Table(title=f"NER on {path.name} ({len(docs)} documents, {settings.spacy_model})")
    for column in ("type", "bare P", "bare R", "bare F1", "stage P", "stage R", "stage F1"):
        table.add_column(column, justify="right")
    for kind in ("PER", "ORG", "LOC", "micro", "MISC"):
        b, s = scores["bare"][kind], scores["stage"][kind]
        table.add_row(kind, *(f"{b[k]:.3f}" for k in ("precision", "recall", "f1")),
                      *(f"{s[k]:.3f}" for k in ("precision", "recall", "f1")))
    console.print(table)
    console.print("micro = PER/ORG/LOC, exact span and type")
    return result
