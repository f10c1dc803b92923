"""The story benchmark's real-text stream: the eval's order, clock and entities, cached."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

import workers.tools.bench.stories as bench
from workers.settings import Settings
from workers.stages.stories_text import native_doc_freq
from workers.tools.bench import tag_cache
from workers.tools.evaluation.stories import CLOCK_START, CLOCK_STEP


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    _write(tmp_path / "ecb-dev.jsonl", [
        {"id": f"e{i}", "cluster": f"e{i}", "story": "s1" if i < 2 else "s2",
         "kind": "original", "title": f"Quake {i}", "body": f"An earthquake hit town {i}."}
        for i in range(4)])
    _write(tmp_path / "news-dev.jsonl", [
        {"id": f"b{i}", "title": f"Markets {i}", "body": f"Shares rose on day {i}.",
         "category": "business", "source": "bbc", "file": f"{i}.txt"} for i in range(6)])
    return tmp_path


def test_real_stream_is_the_eval_stream_with_cached_entities(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def tag(rows: list[dict], settings: Settings) -> dict:
        calls.append([r["id"] for r in rows])
        return {r["id"]: ((f"Town {r['id']}", None, "GPE", 0.5),) for r in rows}

    monkeypatch.setattr(bench, "tag_entities", tag)
    settings = Settings(shared_data_dir=data)
    cache = tmp_path / "tags.pickle"

    first = bench.real_stream(settings, 3, cache)
    assert len(first) == 7 and len(calls) == 1  # 4 ECB+ and 3 news-dev articles, tagged once
    assert sorted(a.id for a in first if a.id.startswith("e")) == ["e0", "e1", "e2", "e3"]
    assert [a.time for a in first] == [CLOCK_START + i * CLOCK_STEP for i in range(7)]
    assert first[0].entities == ((f"Town {first[0].id}", None, "GPE", 0.5),)

    again = bench.real_stream(settings, 3, cache)
    assert len(calls) == 1  # from the cache
    assert [(a.id, a.entities) for a in again] == [(a.id, a.entities) for a in first]

    other = bench.real_stream(settings, 5, cache)  # ids the cache lacks: tagged again
    assert len(calls) == 2 and len(other) == 9

    # another NER model or knowledge base: the cache is not used
    monkeypatch.setattr(tag_cache, "tagging_identity", lambda model: "another model, kb 0")
    bench.real_stream(settings, 5, cache)
    assert len(calls) == 3
    bench.real_stream(settings, 5, cache)
    assert len(calls) == 3


def test_bench_real_reports_both_rates(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "tag_entities", lambda rows, settings: {})
    result = bench.bench_real(Settings(shared_data_dir=data), 6, None, rounds=2)
    assert result["real_articles"] == 10
    assert len(result["real_rounds"]) == len(result["synthetic_rounds"]) == 2
    real, synthetic = (result["real_decisions_per_cpu_s"],
                       result["synthetic_same_size_decisions_per_cpu_s"])
    assert real > 0 and synthetic > 0
    # the figures are the medians of their rounds (rounded), and the ratio is theirs
    assert abs(real - statistics.median(result["real_rounds"])) <= 1
    assert abs(synthetic - statistics.median(result["synthetic_rounds"])) <= 1
    assert result["real_to_synthetic"] == pytest.approx(real / synthetic, rel=0.01)
    assert result["real_entities_per_article"] == 0  # tag_entities found nothing
    assert result["real_extracting_decisions_per_cpu_s"] > 0


@pytest.mark.parametrize("native", [True, False])
def test_bench_alternates_packed_and_extracted_terms_with_the_window_full(
        data: Path, native: bool) -> None:
    compiled = native and native_doc_freq() is not None
    result = bench.bench(Settings(shared_data_dir=data, story_native=native), window=30,
                         measure=25, slices=4)
    assert result["window_articles"] == 30
    # slices of 6, 6, 6 and 7 articles each, in every mode; the Python code is a mode of its
    # own when the compiled parts run
    modes = ["worker", "python", "extracting"] if compiled else ["worker", "extracting"]
    assert result["full_window_decided"] == dict.fromkeys(modes, 25)
    assert result["compiled_parts"] == ("newsflow_native" if compiled else "none (Python)")
    assert result["full_window_decisions_per_cpu_s"] > 0
    assert result["full_window_extracting_decisions_per_cpu_s"] > 0
    assert (result["full_window_python_decisions_per_cpu_s"] or 0) > 0 or not compiled
    assert result["terms_cpu_ms_per_article"] > 0


def test_bench_tagged_entities_gives_the_events_their_articles_entities(
        data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = (("Ada Lovelace", None, "PERSON", 0.5), ("London", "Q84", "GPE", 0.25))
    monkeypatch.setattr(bench, "tag_entities",
                        lambda rows, settings: {row["id"]: found for row in rows})
    result = bench.bench_tagged_entities(Settings(shared_data_dir=data), 30, 10, None)
    assert result["tagged_entities_per_article"] == 2
    assert result["tagged_entities_full_window_decisions_per_cpu_s"] > 0
    # the Python code in turns with the compiled parts, when they are built
    python = result["tagged_entities_full_window_python_decisions_per_cpu_s"]
    assert (python or 0) > 0 if native_doc_freq() is not None else python is None
    assert result["tagged_entities_fill_decisions_per_cpu_s"] > 0
    assert 0 < result["tagged_entities_stories"] <= 40


def test_synthetic_events_take_their_articles_entities_when_given(data: Path) -> None:
    rows = [json.loads(line) for line in (data / "news-dev.jsonl").read_text().splitlines()]
    chosen = {rows[0]["id"]: (("Ada Lovelace", None, "PERSON", 0.5),)}
    articles = bench.synthetic(data / "news-dev.jsonl", 9, step=1.0, entities=chosen)
    names = {a.entities[0][0] for a in articles}  # the only article given, marked or not
    assert names <= {"Ada Lovelace"} | {f"Ada Lovelaceq{event:x}" for event in range(3)}
    assert all(len(a.entities) == 1 and a.entities[0][2:] == ("PERSON", 0.5) for a in articles)
    assert all(a.title.split()[0].startswith(rows[0]["title"].split()[0]) for a in articles)
