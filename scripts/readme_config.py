"""Regenerate the configuration table at the end of README.md from workers/settings.py."""

from __future__ import annotations

import sys
from pathlib import Path

from workers.tools.settings_doc import settings_markdown

MARKER = "<!-- CONFIG-TABLE -->\n"


def render(readme: str) -> str:
    head = readme.split(MARKER)[0]
    return head + MARKER + settings_markdown()


if __name__ == "__main__":
    path = Path(__file__).resolve().parent.parent / "README.md"
    new = render(path.read_text(encoding="utf-8"))
    if "--check" in sys.argv:
        sys.exit(0 if new == path.read_text(encoding="utf-8") else 1)
    path.write_text(new, encoding="utf-8")
