"""``newsflow eval ...`` and ``newsflow bench ...``: thin CLI wrappers around the stage modules.

Each command imports its module only when run, so ``newsflow --help`` stays fast and a stage's
heavy dependencies (spaCy) load only for the commands that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

import typer
from rich.console import Console

from workers.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def register(
    eval_app: typer.Typer,
    bench_app: typer.Typer,
    settings: Callable[[], Settings],
    console: Console,
) -> None:
    def call(module: str, func: str, *args, **kwargs):
        return getattr(import_module(module), func)(*args, **kwargs)

    @eval_app.command("clean")
    def eval_clean(
        file: Path = typer.Argument(
            ..., exists=True, help="Labelled JSONL (raw, gold, junk_lines)."
        ),
        out: Path | None = typer.Option(None, help="Write {id, text} per record here."),
        worst: int = typer.Option(10, help="How many of the worst articles to list."),
    ) -> None:
        """Score the cleaning stage: line-removal precision/recall and token P/R/F1."""
        call("workers.tools.evaluation.clean", "eval_clean", file, settings(), out=out, worst=worst)

    @eval_app.command("dedup")
    def eval_dedup(
        file: Path = typer.Argument(
            ..., exists=True, help="A labelled stream (dedup-dev.jsonl format)."
        ),
        out: Path | None = typer.Option(None, help="Write {id, duplicate_of} per article here."),
        pairs: Path | None = typer.Option(
            None, help="ECB+-style pairs file (default: <file>-pairs.tsv if present)."
        ),
    ) -> None:
        """Score dedup: pairwise precision/recall/F1, recall per kind, ECB+ pair merging."""
        call("workers.tools.evaluation.dedup", "eval_dedup", file, settings(), out=out, pairs=pairs)

    @eval_app.command("entities")
    def eval_entities(
        file: Path = typer.Argument(..., exists=True, help="CoNLL-2003 format file."),
        out: Path | None = typer.Option(None, help="Write {doc, spans} per document here."),
    ) -> None:
        """Score entity tagging (span and type) against bare spaCy, same model, same run."""
        call("workers.tools.evaluation.entities", "eval_entities", file, settings(), out=out)

    @bench_app.command("clean")
    def bench_clean(limit: int = typer.Option(500, help="Articles to time.")) -> None:
        """Per-article time of the cleaning stage (text and HTML) vs bare trafilatura."""
        call("workers.tools.bench.clean", "bench_clean", settings(), limit=limit)

    @bench_app.command("dedup")
    def bench_dedup(
        n: int = typer.Option(20000, help="Articles to push through the index."),
    ) -> None:
        """Dedup decisions per second, state bytes per article, index rebuild time."""
        call("workers.tools.bench.dedup", "bench_dedup", settings(), n=n)

    @bench_app.command("recovery")
    def bench_recovery(
        entries: int = typer.Option(100_000, help="Dedup state entries in the changelog."),
    ) -> None:
        """Worker start to ready and to the first dedup decision, full vs empty dedup state."""
        call("workers.tools.bench.recovery", "bench_recovery", settings(), entries=entries)

    @bench_app.command("eventloop")
    def bench_eventloop(
        messages: int = typer.Option(3000, help="Messages per measurement."),
        size: int = typer.Option(6000, help="Bytes per message (an enriched article's size)."),
        rounds: int = typer.Option(3, help="Rounds; the two loops alternate in each."),
    ) -> None:
        """CPU per Kafka round trip (produce awaited, consumed back) on asyncio and uvloop."""
        call("workers.tools.bench.eventloop", "bench_eventloop", settings(),
             messages=messages, size=size, rounds=rounds)

    @bench_app.command("entities")
    def bench_entities(limit: int = typer.Option(300, help="Articles to tag.")) -> None:
        """Tagging throughput vs bare nlp.pipe (single process and pool), event-loop lag."""
        call("workers.tools.bench.entities", "bench_entities", settings(), limit=limit)

    @bench_app.command("metrics")
    def bench_metrics(n: int = typer.Option(2000, help="Articles.")) -> None:
        """Instrumentation cost per article, with and without metrics, same run."""
        call("workers.tools.bench.metrics_overhead", "bench_metrics_overhead", settings(), n=n)

    @bench_app.command("pipeline")
    def bench_pipeline(
        articles: int = typer.Option(1500, help="Distinct news-dev articles in the backlog."),
        seconds: float = typer.Option(45.0, help="Seconds of paced input per load level."),
        loads: str = typer.Option("0.25,0.5,0.9", help="Load levels, shares of capacity."),
        workers: int = typer.Option(1, help="Worker processes on the same consumer group."),
        tag_workers: int | None = typer.Option(
            None, help="Tagging processes per worker (default NEWSFLOW_TAG_WORKERS)."),
        quick: bool = typer.Option(
            False, help="Smoke test: 150 articles, 8 s per level, 50 to warm up."),
        warmup: int = typer.Option(
            1500, help="Articles drained first, unmeasured, so that the broker is warm (0: none)."),
        rounds: int = typer.Option(
            1, min=1, help="Capacity and bare pool measured this many times, alternately; "
            "the median ratio is reported (3: the figure to hold; one run drifts +-15 %)."),
        out: Path = typer.Option(Path("var/bench/pipeline"), help="Folder for JSON and PNG."),
        record: bool = typer.Option(
            True, help="Append a row to BENCHMARKS.md (never in --quick mode)."),
        rate: float | None = typer.Option(
            None, min=0.01, help="Load levels as shares of this many inputs/s instead of the "
            "measured capacity, so that runs pace the same rates."),
        stand_in_ner: bool = typer.Option(
            False, help="Tag with an entity ruler without patterns instead of the NER model: "
            "the worker's and broker's own CPU per article without the model's load and drift "
            "(the ratio to the bare model means nothing then; no BENCHMARKS.md row)."),
    ) -> None:
        """End-to-end capacity vs the bare model, latency and lag under load, where time goes."""
        module = import_module("workers.tools.bench.pipeline")
        chosen = settings()
        if stand_in_ner:
            chosen = chosen.model_copy(update={"spacy_model": str(module.stand_in_ner())})
            record = False
        plan = module.Plan(
            articles=150 if quick else articles,
            seconds=8.0 if quick else seconds,
            loads=tuple(float(x) for x in loads.split(",") if x.strip()),
            workers=workers,
            tag_workers=tag_workers,
            quick=quick,
            warmup=min(warmup, 50) if quick else warmup,
            bare_again=not quick,
            rounds=rounds,
            rate=rate,
        )
        benchmarks = REPO_ROOT / "BENCHMARKS.md" if record and not quick else None
        module.bench_pipeline(chosen, plan, out, benchmarks)

    @bench_app.command("soak")
    def bench_soak(
        minutes: float = typer.Option(10.0, help="Minutes of sustained input."),
        load: float = typer.Option(0.8, help="Input rate as a share of the measured capacity."),
        out: Path = typer.Option(Path("var/bench/soak"), help="Folder for soak.csv/.png/.json."),
    ) -> None:
        """Sustained load on a worker: RSS (with tagging processes), lag, p99 latency per 10 s."""
        call(
            "workers.tools.bench.soak",
            "bench_soak",
            settings(),
            minutes=minutes,
            load=load,
            out=out,
        )
