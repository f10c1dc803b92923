"""The dedup stage's fast paths give exactly the results of the straightforward ones.

* ``KnowledgeBase.canonicalise_text`` (an Aho-Corasick scan) rewrites text exactly as the
  knowledge base's regex scan does (``find``, each non-glued alias replaced by its entry's name);
* ``Probe`` (a fingerprint bitmap) measures what ``compare`` (set intersection) measures;
* joined band keys are the full-text keys followed by the lead keys.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from workers.kb import KnowledgeBase
from workers.stages.dedup_index import BandKeys
from workers.stages.dedup_sketch import Probe, Sketcher, compare

SEPARATORS = [
    " ", "", ".", "-", "_", "'s ", "\n", "x", "\u00e9", "1", ". ", "\u2019", ", ", "\u00a0"
]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def _regex_rewrite(kb: KnowledgeBase, text: str) -> str:
    """The reference: every match of the knowledge base's regex scan, replaced by its name."""
    pieces, copied = [], 0
    for start, end, entry in kb.find(text):
        pieces += (text[copied:start], entry.name)
        copied = end
    return "".join(pieces) + text[copied:]


def _names(kb: KnowledgeBase) -> list[str]:
    names = []
    for entry in kb.core:  # the normaliser's tier (the full base is for linking only)
        names += [entry.name, *entry.aliases]
    return sorted(names)


@pytest.mark.parametrize(
    "text",
    [
        "The North Atlantic Treaty Organisation met in the U.S. with ISIL.",
        "XNATO and NATOs, the U.S.-backed plan, e.U.S. and NORTH ATLANTIC TREATY ORGANIZATION",
        "New York-based, New Yorker, Iranian, IRAN's, Nato\u2019s, turkey and Turkey.",
        "",
        "no names at all here",
    ],
)
def test_canonicalise_text_is_the_regex_rewrite(kb: KnowledgeBase, text: str) -> None:
    assert kb.canonicalise_text(text) == _regex_rewrite(kb, text)


def test_canonicalise_text_is_the_regex_rewrite_on_generated_text(kb: KnowledgeBase) -> None:
    """Names and their prefixes, upper-cased, glued to each other and to words, overlapping."""
    rng = random.Random(8)
    names = _names(kb)
    changed = 0
    for _ in range(3000):
        parts = []
        for _ in range(rng.randint(1, 8)):
            name = rng.choice(names)
            name = name.upper() if rng.random() < 0.2 else name
            parts += (name[: rng.randint(1, len(name))] if rng.random() < 0.3 else name,
                      rng.choice(SEPARATORS))
        text = "".join(parts)
        rewritten = kb.canonicalise_text(text)
        assert rewritten == _regex_rewrite(kb, text), text
        changed += rewritten != text
    assert changed > 1000  # the generator does exercise replacements


def test_canonicalise_text_is_the_regex_rewrite_on_real_news(
    kb: KnowledgeBase, shared_data: Path
) -> None:
    lines = (shared_data / "dedup-dev.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["body"] for line in lines if line.strip()]
    for text in texts:
        assert kb.canonicalise_text(text) == _regex_rewrite(kb, text)
    assert sum(kb.canonicalise_text(text) != text for text in texts) > len(texts) // 2


def _sketcher() -> Sketcher:
    return Sketcher(num_perm=64, shingle_size=4, lead_words=60, lead_perm=32,
                    max_fingerprints=256)


def _words(rng: random.Random, n: int) -> str:
    return " ".join(f"w{rng.randrange(400)}" for _ in range(n))


def test_probe_measures_what_compare_measures() -> None:
    rng = random.Random(3)
    sketcher = _sketcher()
    base = _words(rng, 250)
    query = sketcher.sketch(base)
    assert query is not None
    probe = Probe(query)
    others = [base[: len(base) // 3], base + " " + _words(rng, 40), _words(rng, 250), "w1",
              _words(rng, 900), base]  # teaser, update, other story, tiny, sampled, same
    for text in others:
        other = sketcher.sketch(text)
        assert other is not None
        assert probe.compare(other) == compare(query, other)
        packed = sketcher.unpack_sketch(sketcher.pack(1.0, other))
        assert packed is not None and probe.compare(packed) == compare(query, other)


def test_joined_band_keys_are_both_kinds_back_to_back() -> None:
    full, lead = BandKeys(bands=32, rows=2, salt=0), BandKeys(bands=16, rows=2, salt=1)
    joined = BandKeys.joined(full, lead)
    values = np.random.default_rng(5).integers(0, 1 << 16, 96, dtype=np.uint16)
    assert joined(values) == full(values[:64]) + lead(values[64:])
    matrix = np.stack((values, values[::-1]))
    expected = np.concatenate((full.matrix(matrix[:, :64]), lead.matrix(matrix[:, 64:])), axis=1)
    assert np.array_equal(joined.matrix(matrix), expected)
    with pytest.raises(ValueError):
        BandKeys.joined(full, BandKeys(bands=8, rows=3, salt=1))
