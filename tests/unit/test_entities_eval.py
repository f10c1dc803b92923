"""``newsflow eval entities``: CoNLL reading, span mapping, scoring, and the dev-set target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workers.settings import Settings
from workers.tools.evaluation.entities import (
    Document,
    eval_entities,
    read_conll,
    score,
    to_tokens,
)

# Our own sentences in CoNLL-2003 layout (IOB2 tags), two documents.
SAMPLE = """-DOCSTART- -X- -X- O

Maria NNP B-NP B-PER
Lindqvist NNP I-NP I-PER
flew DT B-VP O
to TO B-PP O
Paris NNP B-NP B-LOC
for IN B-PP O
the DT B-NP O
North NNP I-NP B-ORG
Atlantic NNP I-NP I-ORG
Treaty NNP I-NP I-ORG
Organisation NNP I-NP I-ORG
. . O O

-DOCSTART- -X- -X- O

Lindqvist NNP B-NP B-PER
met VBD B-VP O
German JJ B-NP B-MISC
officials NNS I-NP O
in IN B-PP O
Berlin NNP B-NP B-LOC
. . O O
"""


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.conll"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


def test_read_conll(sample: Path) -> None:
    docs = read_conll(sample)
    assert len(docs) == 2
    assert docs[0].text.startswith("Maria Lindqvist flew to Paris")
    assert docs[0].gold == {(0, 2, "PER"), (4, 5, "LOC"), (7, 11, "ORG")}
    assert docs[1].gold == {(0, 1, "PER"), (2, 3, "MISC"), (5, 6, "LOC")}


def test_character_spans_map_to_tokens() -> None:
    doc = Document(["New", "York", "'s", "mayor"], set(), [0, 4, 9, 12])
    assert to_tokens(doc, 0, 8) == (0, 2)
    assert to_tokens(doc, 4, 8) == (1, 2)
    assert to_tokens(doc, 1, 6) == (0, 2)  # a span cutting tokens takes the tokens it touches


def test_scores() -> None:
    gold = [{(0, 2, "PER"), (4, 5, "LOC")}, {(0, 1, "ORG")}]
    found = [{(0, 2, "PER"), (4, 5, "ORG")}, {(0, 1, "ORG"), (3, 4, "LOC")}]
    table = score(gold, found)
    assert table["PER"]["f1"] == 1.0
    assert table["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 1, "found": 1}
    assert table["micro"]["precision"] == 0.5 and table["micro"]["recall"] == pytest.approx(0.6667)


def test_eval_writes_one_line_per_document(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "sys.jsonl"
    result = eval_entities(sample, Settings(), out=out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["doc"] for line in lines] == [0, 1]
    assert [0, 2, "PER"] in lines[0]["spans"] and [5, 6, "LOC"] in lines[1]["spans"]
    assert result["stage"]["micro"]["f1"] >= result["bare"]["micro"]["f1"]


def test_stage_beats_bare_spacy_on_conll_dev(shared_data: Path) -> None:
    settings = Settings(spacy_model="en_core_web_sm")  # the OntoNotes model, still selectable
    result = eval_entities(shared_data / "conll2003-dev.txt", settings)
    bare, stage = result["bare"]["micro"]["f1"], result["stage"]["micro"]["f1"]
    assert bare == pytest.approx(0.638, abs=0.005)  # the reference figure of the data README
    assert stage >= bare + 0.06


def test_news_model_on_conll_dev(shared_data: Path) -> None:
    """The shipped ner-news model (the default): floors just under its measured dev figures
    (stage micro 0.890, ORG 0.819; model card). Issue 14's targets (0.91, ORG 0.85) are not met."""
    result = eval_entities(shared_data / "conll2003-dev.txt", Settings())
    assert result["model"] == "ner-news"
    assert result["bare"]["micro"]["f1"] >= 0.88
    assert result["stage"]["micro"]["f1"] >= 0.88
    assert result["stage"]["ORG"]["f1"] >= 0.81
