"""The settings object: environment variables, the KAFKA_BOOTSTRAP_SERVERS alias, the docs."""

from __future__ import annotations

import pydantic
import pytest

from workers.settings import Settings
from workers.tools.settings_doc import settings_markdown


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFLOW_TOPIC_RAW", "in.raw")
    monkeypatch.setenv("NEWSFLOW_PARTITIONS_RAW", "8")
    s = Settings()
    assert s.topic_raw == "in.raw" and s.topic_partitions()["in.raw"] == 8


def test_bootstrap_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("NEWSFLOW_KAFKA_PORT", "29092")
    assert Settings().bootstrap_servers == "127.0.0.1:29092"
    assert Settings().uses_local_kafka
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    assert Settings().bootstrap_servers == "broker:9092"
    assert not Settings().uses_local_kafka


def test_settings_are_frozen_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(pydantic.ValidationError):
        Settings().topic_raw = "x"  # type: ignore[misc]
    monkeypatch.setenv("NEWSFLOW_PROCESSING_GUARANTEE", "maybe_once")
    with pytest.raises(pydantic.ValidationError):
        Settings()


def test_every_field_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
    table = settings_markdown()
    assert "`KAFKA_BOOTSTRAP_SERVERS`" in table and "`NEWSFLOW_TAG_WORKERS`" in table


def test_readme_configuration_table_is_current() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    marker = "<!-- CONFIG-TABLE -->\n"
    assert marker in readme
    assert readme.split(marker)[1] == settings_markdown(), (
        "README's configuration table is stale: run `.venv/bin/python scripts/readme_config.py`"
    )
