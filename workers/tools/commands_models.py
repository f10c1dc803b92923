"""``newsflow train ...`` and the eval/bench commands of the learned parts (line model, NER
model, knowledge base, story model): thin wrappers that import their module only when run."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console

from workers.settings import Settings


def _call(module: str, func: str, *args: Any, **kwargs: Any) -> Any:
    return getattr(import_module(module), func)(*args, **kwargs)


def _print_json(console: Console, value: Any) -> None:
    console.print_json(orjson.dumps(value, default=str).decode())


def register(
    eval_app: typer.Typer,
    bench_app: typer.Typer,
    train_app: typer.Typer,
    settings: Callable[[], Settings],
    console: Console,
) -> None:
    @train_app.command("clean")
    def train_clean(
        file: Path | None = typer.Argument(None, help="Default: <shared data>/cleaning-dev.jsonl."),
        out: Path | None = typer.Option(None, help="Default: the shipped model file."),
    ) -> None:
        """Refit the cleaning stage's line model (fixed seed; reproduces the shipped weights)."""
        s = settings()
        _call("workers.tools.evaluation.clean_train", "train",
              file or s.shared_data_dir / "cleaning-dev.jsonl", s, out)

    @train_app.command("entities")
    def train_entities(
        out: Path | None = typer.Option(None, help="Default: workers/data/models/ner-news."),
        epochs: int | None = typer.Option(None, help="Most epochs per phase (best kept)."),
    ) -> None:
        """Fine-tune the NER model on conll2003-train.txt, choosing on conll2003-dev.txt."""
        argv = ["--data", str(settings().shared_data_dir)]
        argv += ["--out", str(out)] if out else []
        argv += ["--epochs", str(epochs)] if epochs else []
        _call("workers.tools.evaluation.train_entities", "main", argv)

    @train_app.command("stories")
    def train_stories(
        file: Path = typer.Argument(..., exists=True, help="A story-labelled stream (ecb-dev)."),
        check: bool = typer.Option(False, help="Only the checks (leave-topics-out; halves of "
                                   "each --also file)."),
        also: list[Path] = typer.Option(
            [], exists=True, help="Another labelled stream to train on (repeatable)."),
        loto: bool = typer.Option(False, help="Only the leave-one-topic-out check: each topic "
                                  "scored by a model trained on the others."),
        interleave: int = typer.Option(0, help="With --loto: also score the stream with this "
                                       "many news-dev articles mixed in."),
    ) -> None:
        """Refit the story pair model (or check how it generalises across topics)."""
        _call("workers.tools.evaluation.stories_train", "main",
              [str(file), *[a for path in also for a in ("--also", str(path))],
               *(["--check"] if check else []), *(["--loto"] if loto else []),
               *(["--interleave", str(interleave)] if interleave else [])])

    @eval_app.command("stories")
    def eval_stories(
        file: Path = typer.Argument(..., exists=True, help="A stream in dedup-dev.jsonl format."),
        out: Path | None = typer.Option(None, help="Write {id, story_id} per article here."),
        interleave: int = typer.Option(
            0, help="Interleave this many news-dev articles as unrelated traffic (the file "
                    "alone is scored in the same run too, under `alone`)."
        ),
    ) -> None:
        """Cluster the file online, in order; B-cubed and pairwise P/R/F1 against `story`."""
        result = _call("workers.tools.evaluation.stories", "eval_stories", file, settings(),
                       out, interleave)
        _print_json(console, result)

    @eval_app.command("linking")
    def eval_linking(
        sample: Path | None = typer.Argument(None, help="Default: tests/data/linking-sample.tsv."),
    ) -> None:
        """Entity-linking precision and coverage on the hand-labelled news-dev sample."""
        module = "workers.tools.evaluation.linking"
        _print_json(console, _call(module, "eval_linking", *([sample] if sample else [])))

    @bench_app.command("stories")
    def bench_stories(
        window: int = typer.Option(100_000, help="Articles already in the window."),
        measure: int = typer.Option(5_000, help="Decisions timed."),
        real: int = typer.Option(2_000, help="news-dev articles interleaved with ECB+ for the "
                                             "real-text rate beside the synthetic one."),
        no_real: bool = typer.Option(False, "--no-real", help="Skip the real-text rate."),
    ) -> None:
        """Story decisions per second with a full window, state bytes per article, rebuild time;
        the rate on real text beside synthetic text of the same size."""
        _call("workers.tools.bench.stories", "main",
              ["--window", str(window), "--measure", str(measure), "--real", str(real),
               *(["--no-real"] if no_real else [])])

    @bench_app.command("kb")
    def bench_kb() -> None:
        """Knowledge-base load time and memory, and the dedup normaliser's cost per article."""
        news = settings().shared_data_dir / "news-dev.jsonl"
        _print_json(console, _call("workers.tools.bench.kb", "bench_kb", news))

    @bench_app.command("entities-models")
    def bench_entity_models(
        limit: int = typer.Option(200, help="news-dev articles."),
        rounds: int = typer.Option(3, help="Interleaved rounds (best kept)."),
    ) -> None:
        """The tag stage with today's model vs the OntoNotes sm set-ups, same texts, same run."""
        _call("workers.tools.bench.entities_models", "bench_models", settings(), limit, rounds)
