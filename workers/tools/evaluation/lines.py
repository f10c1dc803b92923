"""The cleaning evaluation's scoring conventions (shared/data/README.md), used by the eval and
by the line model's trainer: lines compared after NFKC, curly quotes folded to straight and
whitespace collapsed; tokens are lower-cased ``\\w+``."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"',
                         "„": '"', "‟": '"'})
_SPACES = re.compile(r"\s+")
_TOKENS = re.compile(r"\w+")


def norm_line(line: str) -> str:
    """A line as the scoring conventions compare it."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", line).translate(_QUOTES)).strip()


def tokens(text: str) -> Counter[str]:
    return Counter(_TOKENS.findall(norm_line(text).lower()))
