"""The benchmarks' cache of tagging results: used only for the same model, KB and contents."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.tools.bench import tag_cache


def test_a_cache_is_used_only_for_the_same_identity_and_contents(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tag_cache, "tagging_identity", lambda model: f"{model} 1, kb 1")
    path = tmp_path / "tags.pickle"
    assert tag_cache.load(path, "m") is None  # no file
    tag_cache.save(path, "m", {"a": 1}, contents="with terms")
    assert tag_cache.load(path, "m", contents="with terms") == {"a": 1}
    assert tag_cache.load(path, "m") is None  # other contents (the layout before)
    assert tag_cache.load(path, "other", contents="with terms") is None  # another model
    tag_cache.save(path, "m", {"a": 2})
    assert tag_cache.load(path, "m") == {"a": 2}
    assert tag_cache.load(path, "m", contents="with terms") is None
