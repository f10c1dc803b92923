"""``newsflow worker --check``: what the image build runs as its smoke check."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import unavailable
from workers.errors import NewsflowError
from workers.ops.loopmon import running_loop
from workers.settings import Settings
from workers.stages.stories_text import native_doc_freq
from workers.stream.runner import check_worker, use_event_loop


@pytest.fixture(autouse=True)
def _default_loop_policy() -> Iterator[None]:
    """The check installs the worker's event loop policy; the other tests get the default."""
    yield
    asyncio.set_event_loop_policy(None)


def test_check_builds_the_app_and_starts_a_tagging_process(tmp_path: Path) -> None:
    if native_doc_freq() is None:  # the check requires it by default; CI builds it
        unavailable("newsflow_native is not installed; run scripts/build-native.sh")
    settings = Settings(data_dir=tmp_path / "state", tag_workers=3)
    lines = check_worker(settings)
    assert lines[0].startswith("app newsflow: 4 agents, 8 topics")
    assert "HTML extractor ready" in lines
    assert "event loop uvloop.Loop" in lines  # the default, NEWSFLOW_EVENT_LOOP=uvloop
    # the default, NEWSFLOW_STORY_NATIVE=true, and setup builds it
    assert "story stage: compiled parts (newsflow_native)" in lines
    assert lines[-1].startswith("tagging process ready: model ner-news (en_ner_news ")
    assert "knowledge base " in lines[-1]


def test_check_fails_when_the_compiled_story_part_is_asked_for_and_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.stages.stories_text as text

    settings = Settings(data_dir=tmp_path / "state")
    monkeypatch.setattr(text, "native_doc_freq", lambda: None)
    with pytest.raises(RuntimeError, match="newsflow_native is not installed"):
        check_worker(settings)
    lines = check_worker(settings.model_copy(update={"story_native": False}))
    assert "story stage: Python code (NEWSFLOW_STORY_NATIVE=false)" in lines


@pytest.mark.parametrize(("name", "loop"), [
    ("uvloop", "uvloop.Loop"),
    ("asyncio", "asyncio.unix_events._UnixSelectorEventLoop"),
])
def test_event_loop_setting_picks_the_loop(name: str, loop: str) -> None:
    use_event_loop(Settings(event_loop=name))
    assert asyncio.run(running_loop()) == loop


def test_check_fails_on_a_model_that_is_not_there(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state", spacy_model="no_such_model")
    with pytest.raises(NewsflowError, match="no_such_model"):
        check_worker(settings)


def test_cli_option_exits_non_zero_on_failure(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.tools import cli

    monkeypatch.setenv("NEWSFLOW_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NEWSFLOW_SPACY_MODEL", "no_such_model")
    cli._register_optional()
    result = CliRunner().invoke(cli.app, ["worker", "--check"])
    assert result.exit_code != 0
    assert "worker check: ok" not in result.output
