"""Helpers shared by the test packages."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """A resource a test needs is missing: fail under CI (CI must have it), skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_binary(name: str, hint: str) -> str:
    """The path of an executable on PATH, or :func:`unavailable` with how to install it."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} not found; {hint}")
    return path
