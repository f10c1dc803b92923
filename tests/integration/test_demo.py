"""`newsflow demo` (the README's first command) on the real broker: the sample corpus goes
through a worker, every message is accounted for, and ``--keep`` says which topics it kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from workers.kafka.io import delete_topics, read_topics
from workers.settings import Settings
from workers.tools.demo import run_demo

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "corpus.jsonl"


def test_demo_accounts_for_every_message_and_names_kept_topics(
    kafka: Settings, tmp_path: Path
) -> None:
    settings = kafka.model_copy(update={"tag_workers": 1, "data_dir": tmp_path})
    console = Console(record=True, width=200)
    code = run_demo(settings, corpus=SAMPLES, keep=True, timeout=240, console=console)
    text = console.export_text()
    kept = next(line for line in text.splitlines() if line.startswith("topics kept: "))
    names = kept.removeprefix("topics kept: ").split(";")[0].split(", ")
    try:
        assert code == 0, text
        lines = SAMPLES.read_bytes().count(b"\n")
        assert f"{lines}/{lines}" in text, text  # the "accounted for" row
        assert len(names) == len(settings.topic_names())
        enriched = next(name for name in names if name.endswith(settings.topic_enriched))
        assert f"newsflow tail {enriched}" in kept

        async def count() -> int:
            return sum([1 async for _ in read_topics(settings, [enriched], idle_timeout=3.0)])

        assert asyncio.run(count()) > 0  # the kept topic still holds the outputs
    finally:
        asyncio.run(delete_topics(settings, names))
