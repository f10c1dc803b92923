"""Shared test fixtures: settings and the development data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import unavailable
from workers.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    configured = Settings().shared_data_dir
    return configured if configured.is_absolute() else (REPO_ROOT / configured).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The development data folder (NEWSFLOW_SHARED_DATA_DIR, default ../shared/data).

    Absent: a hard failure when CI=true (CI must have the data), a skip otherwise.
    """
    path = _data_dir()
    if not (path / "news-dev.jsonl").is_file():
        message = (
            f"development data not found at {path}; set NEWSFLOW_SHARED_DATA_DIR to the folder "
            "holding news-dev.jsonl, seed-article.txt, ..."
        )
        unavailable(message)
    return path


@pytest.fixture(scope="session")
def seed_article(shared_data: Path) -> str:
    return (shared_data / "seed-article.txt").read_text(encoding="utf-8")
