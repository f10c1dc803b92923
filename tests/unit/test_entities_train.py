"""The NER trainer's data reader: sentences, and runs of sentences within one document."""

from __future__ import annotations

from pathlib import Path

from workers.tools.evaluation.train_entities import read_sentences

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

BRUSSELS NNP B-NP B-LOC

-DOCSTART- -X- -X- O

Germany NNP B-NP B-LOC
won VBD B-VP O

"""


def test_one_example_per_sentence(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text(CONLL, encoding="utf-8")
    assert read_sentences(path) == [
        (["EU", "rejects"], ["B-ORG", "O"]), (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        (["BRUSSELS"], ["B-LOC"]), (["Germany", "won"], ["B-LOC", "O"]),
    ]


def test_runs_of_sentences_stay_within_a_document(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text(CONLL, encoding="utf-8")
    assert read_sentences(path, per_example=2) == [
        (["EU", "rejects", "Peter", "Blackburn"], ["B-ORG", "O", "B-PER", "I-PER"]),
        (["BRUSSELS"], ["B-LOC"]), (["Germany", "won"], ["B-LOC", "O"]),
    ]
    assert [words for words, _ in read_sentences(path, per_example=4)] == [
        ["EU", "rejects", "Peter", "Blackburn", "BRUSSELS"], ["Germany", "won"],
    ]
