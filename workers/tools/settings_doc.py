"""Render the settings as documentation (the README's configuration table)."""

from __future__ import annotations

from pathlib import Path

from workers.settings import Settings


def _env_name(name: str) -> str:
    return (
        "KAFKA_BOOTSTRAP_SERVERS"
        if name == "kafka_bootstrap_servers"
        else f"NEWSFLOW_{name.upper()}"
    )


def _show(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, Path):
        home = str(Path.home())
        text = str(value)
        return "~" + text[len(home) :] if text.startswith(home) else text
    return str(value)


def settings_rows(settings: Settings | None = None) -> list[tuple[str, str, str, str]]:
    """(environment variable, current value, default, description) for every field."""
    rows = []
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "number of usable cores"
        else:
            default = _show(field.default)
        current = _show(getattr(settings, name)) if settings is not None else default
        rows.append((_env_name(name), current, default, field.description or ""))
    return rows


def settings_markdown() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for env, _current, default, desc in settings_rows():
        lines.append(f"| `{env}` | `{default}` | {desc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
