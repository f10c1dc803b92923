"""The ``newsflow`` command line: worker, local Kafka, produce/tail, demo, eval and benchmarks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
import typer
from rich.console import Console

from workers.errors import NewsflowError
from workers.settings import Settings

app = typer.Typer(
    help="newsflow: streaming news cleaning, deduplication and entity tagging.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
kafka_app = typer.Typer(
    help="A local single-node Kafka broker (KRaft) for development.", no_args_is_help=True
)
topics_app = typer.Typer(help="Pipeline topics.", no_args_is_help=True)
eval_app = typer.Typer(help="Score a stage on a labelled file.", no_args_is_help=True)
bench_app = typer.Typer(
    help="Benchmarks (per-article CPU, throughput, memory).", no_args_is_help=True
)
app.add_typer(kafka_app, name="kafka")
app.add_typer(topics_app, name="topics")
app.add_typer(eval_app, name="eval")
train_app = typer.Typer(
    help="Retrain a learned part from the shared data (fixed seeds).", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")
app.add_typer(train_app, name="train")
console = Console(stderr=False)


def _settings() -> Settings:
    return Settings()


@app.command()
def worker(
    check: bool = typer.Option(
        False, "--check", help="Build the app and load the tagger as the worker would, then exit "
        "without connecting to Kafka (the image build runs this)."),
) -> None:
    """Run the Faust worker (agents clean, dedup, tag and story) until SIGTERM/SIGINT."""
    from workers.stream.runner import check_worker, run_worker

    if check:
        for line in check_worker(_settings()):
            typer.echo(f"worker check: {line}")
        typer.echo("worker check: ok")
        return
    run_worker(_settings())


@app.command()
def demo(
    limit: int = typer.Option(300, help="How many articles of news-dev.jsonl to send."),
    corpus: Path | None = typer.Option(None, help="A JSONL corpus of raw articles instead."),
    keep: bool = typer.Option(False, help="Keep the demo's topics afterwards."),
    timeout: float = typer.Option(900.0, help="Seconds to wait for every article to come out."),
) -> None:
    """Start local Kafka and a worker, run a corpus through the pipeline, print a summary."""
    from workers.tools.demo import run_demo

    raise typer.Exit(
        run_demo(
            _settings(), limit=limit, corpus=corpus, keep=keep, timeout=timeout, console=console
        )
    )


@app.command()
def produce(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="JSONL, one raw article a line."
    ),
    topic: str | None = typer.Option(None, help="Topic (default: the raw topic)."),
    limit: int | None = typer.Option(None, help="Send at most this many lines."),
) -> None:
    """Publish raw articles from a JSONL file (each line's bytes are sent as they are)."""
    from workers.tools.demo import produce_all

    settings = _settings()
    if topic:
        settings = settings.model_copy(update={"topic_raw": topic})
    lines = [ln.rstrip(b"\n") for ln in file.read_bytes().splitlines() if ln.strip()]
    lines = lines[:limit] if limit is not None else lines
    asyncio.run(produce_all(settings, lines, console))
    console.print(f"sent {len(lines)} messages to {settings.topic_raw}")


@app.command()
def tail(
    topic: str = typer.Argument(
        ...,
        help="Topic name, or one of raw/cleaned/unique/duplicates/tagged/enriched/stories/"
        "deadletter.",
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep waiting for new messages."),
    limit: int | None = typer.Option(None, help="Stop after this many messages."),
    raw_json: bool = typer.Option(False, "--json", help="Print each value as one JSON line."),
) -> None:
    """Print a topic's messages readably."""
    from workers.kafka.io import read_topics

    settings = _settings()
    name = settings.topic_names().get(topic, topic)

    async def run() -> int:
        printed: list[int] = []

        def enough() -> bool:
            return limit is not None and len(printed) >= limit

        async for rec in read_topics(
            settings, [name], follow=follow, idle_timeout=3.0, until=enough
        ):
            printed.append(rec.offset)
            if raw_json:
                sys.stdout.write((rec.value or b"null").decode("utf-8", "replace") + "\n")
            else:
                _print_record(rec)
        return len(printed)

    count = asyncio.run(run())
    console.print(f"[dim]{count} messages from {name}[/dim]", highlight=False)


def _print_record(rec) -> None:
    head = f"[bold]{rec.topic}[/bold] p{rec.partition} @{rec.offset} key={rec.key!r}"
    try:
        doc = orjson.loads(rec.value or b"null")
    except orjson.JSONDecodeError:
        console.print(head, f"(not JSON, {len(rec.value or b'')} bytes)")
        return
    if isinstance(doc, dict):
        for big in ("text", "body", "original_b64"):
            if isinstance(doc.get(big), str) and len(doc[big]) > 300:
                doc[big] = doc[big][:300] + f"... ({len(doc[big])} chars)"
        if isinstance(doc.get("entities"), list):
            doc["entities"] = [f"{e['name']} ({e['label']}, {e['count']})" for e in doc["entities"]]
    console.print(head)
    console.print_json(data=doc)


@topics_app.command("create")
def topics_create() -> None:
    """Create the pipeline's topics with their partition counts (idempotent)."""
    from workers.kafka.io import create_topics

    settings = _settings()
    result = asyncio.run(create_topics(settings))
    for name, state in result.items():
        console.print(f"{name}: {state} ({settings.topic_partitions()[name]} partitions)")


@kafka_app.command("up")
def kafka_up() -> None:
    """Resolve Kafka from Maven Central (first time), format KRaft storage, start the broker."""
    from workers.kafka.local import LocalKafka

    local = LocalKafka(_settings())
    with console.status("starting Kafka (the first run downloads it from Maven Central)"):
        started = local.up()
    console.print(
        f"Kafka {'started' if started else 'already running'} on "
        f"{local.settings.bootstrap_servers} (pid {local.pid()}, log {local.log_file})"
    )


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the local broker cleanly."""
    from workers.kafka.local import LocalKafka

    stopped = LocalKafka(_settings()).down()
    console.print("Kafka stopped" if stopped else "Kafka was not running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs (exit code 1 if not)."""
    from workers.kafka.local import LocalKafka

    local = LocalKafka(_settings())
    pid = local.pid()
    if pid is None:
        console.print("Kafka is not running")
        raise typer.Exit(1)
    console.print(f"Kafka runs (pid {pid}) on {local.settings.bootstrap_servers}")


@kafka_app.command("reset")
def kafka_reset() -> None:
    """Delete the local broker's data (it must be stopped)."""
    from workers.kafka.local import LocalKafka

    LocalKafka(_settings()).reset()
    console.print("local Kafka data deleted")


@app.command("config")
def config(markdown: bool = typer.Option(False, help="Print the README's table.")) -> None:
    """Show every setting: environment variable, current value, description."""
    from workers.tools.settings_doc import settings_markdown, settings_rows

    if markdown:
        sys.stdout.write(settings_markdown())
        return
    from rich.table import Table

    table = Table("variable", "value", "description")
    for env, value, _default, desc in settings_rows(_settings()):
        table.add_row(env, value, desc)
    console.print(table)


def _register_optional() -> None:
    """eval/bench commands live with their stages; register those that exist."""
    from workers.tools import commands, commands_models

    commands.register(eval_app, bench_app, _settings, console)
    commands_models.register(eval_app, bench_app, train_app, _settings, console)


def main() -> None:
    _register_optional()
    try:
        app()
    except NewsflowError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
