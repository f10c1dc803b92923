"""Check that the installed ``workers`` package is byte-for-byte the source it was built from.

The image build runs it (deploy/Dockerfile) after installing newsflow's wheel. It guards against
an install that reuses stale files, e.g. setuptools' ``build/`` copy of an earlier stub package
(issue 17: an empty ``workers/__init__.py`` shipped and the worker died on start). Run it from a
folder where ``import workers`` finds the installed package, not the source tree:

    cd / && python3 /src/scripts/check_install.py /src
"""

from __future__ import annotations

import filecmp
import importlib.metadata
import sys
from pathlib import Path, PurePath


def compare(site: Path, installed: list[PurePath], source: Path) -> list[str]:
    """Problems with ``installed`` (paths under ``site``) against the files under ``source``."""
    mine = [f for f in installed if f.parts[0] == "workers" and f.suffix != ".pyc"]
    problems = [f"{f}: differs from the source" for f in mine
                if (source / f).is_file() and not filecmp.cmp(site / f, source / f, shallow=False)]
    problems += [f"{f}: installed but not in the source" for f in mine
                 if not (source / f).is_file()]
    names = {PurePath(f) for f in mine}
    problems += [f"{p.relative_to(source)}: in the source but not installed"
                 for p in sorted((source / "workers").rglob("*.py"))
                 if p.relative_to(source) not in names]
    return problems


def differences(source: Path) -> list[str]:
    """What differs between the installed distribution ``newsflow`` and ``source``/workers."""
    import workers

    site = Path(workers.__file__).resolve().parents[1]
    if site == source.resolve():
        return [f"`import workers` found the source tree {source}, not the installed package"]
    return compare(site, list(importlib.metadata.files("newsflow") or []), source)


def main() -> int:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    problems = differences(source)
    for problem in problems:
        print(f"check_install: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_install: the installed workers package matches {source}/workers")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
