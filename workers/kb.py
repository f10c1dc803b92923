"""Knowledge base of canonical entities: countries, capitals, large cities, curated organisations.

The data lives in ``workers/data/kb.json`` (versioned; regenerate it with
``python -m workers.tools.kb_build``). ``KnowledgeBase.load()`` reads it once and compiles two
lookup tables and one regular expression:

* acronyms (``NATO``, ``US``, ``ISIL``) match case-sensitively, with or without periods
  (``U.S.``), and in title case when four letters or longer (``Nato``), so that the words "us" or
  "who" never match;
* every other alias matches after folding case, a leading "the", a possessive "'s", spaces and
  hyphens, and British/American spelling (Organisation/Organization, Defence/Defense), as long
  as the surface has a capital letter (so "turkey" the bird is not Turkey);
* demonyms (``Iraqi``, ``Canadians``) link to their country's entry.

``find`` scans running text with one compiled (trie-shaped) regex. ``canonicalise_text`` (the
dedup stage's normaliser, once per article) gives exactly that regex's rewrite - every alias to
its canonical name - from an Aho-Corasick scan (ahocorasick-rs): a Python regex costs about 5 ns
a character wherever a name could start, ~15 us for a 2.7 KB article; the automaton finds every
occurrence in 5-8 us and only the few it finds are looked at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ahocorasick_rs import AhoCorasick, Implementation, MatchKind

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "kb.json"

_SPELLING = (
    (re.compile(r"(?<=\w)iz(?=ation|e\b|es\b|ed\b|ing\b)"), "is"),
    (re.compile(r"\bdefense\b"), "defence"),
    (re.compile(r"\bcenter\b"), "centre"),
)
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s?$")
_NON_WORD = re.compile(r"[\s\-‐–]+")


@dataclass(frozen=True, slots=True)
class KBEntry:
    """One canonical entity. ``label`` is an OntoNotes label (GPE, ORG, LOC, NORP, PERSON ...)."""

    name: str
    label: str
    qid: str | None
    aliases: tuple[str, ...]
    demonyms: tuple[str, ...] = ()


def is_acronym(alias: str) -> bool:
    """``NATO``, ``U.S.``, ``G7``: upper-case letters (and digits), periods allowed, 2-6 long."""
    bare = alias.replace(".", "")
    return 2 <= len(bare) <= 6 and bare.isalnum() and bare.isupper()


def fold(surface: str) -> str:
    """The case/article/spelling-insensitive key of a non-acronym surface form."""
    text = _POSSESSIVE.sub("", _LEADING_THE.sub("", surface.strip()))
    text = _NON_WORD.sub(" ", text.replace(".", "")).strip().casefold()
    for pattern, replacement in _SPELLING:
        text = pattern.sub(replacement, text)
    # Spaces and hyphens last: "Co-operation" = "Cooperation", "al-Qaeda" = "al Qaeda".
    return text.replace(" ", "")


def _acronym_key(surface: str) -> str:
    return _POSSESSIVE.sub("", _LEADING_THE.sub("", surface.strip())).replace(".", "")


class KnowledgeBase:
    """Canonical entities with tolerant alias lookup; build with :meth:`load`."""

    def __init__(self, entries: list[KBEntry], version: str) -> None:
        self.version = version
        self.entries = tuple(entries)
        self._acronyms: dict[str, KBEntry] = {}
        self._folded: dict[str, KBEntry] = {}
        self._demonyms: dict[str, KBEntry] = {}
        # Earlier entries win a clash: the data file lists curated entries, then countries,
        # capitals and cities by population.
        for entry in entries:
            for alias in (entry.name, *entry.aliases):
                if is_acronym(alias):
                    self._acronyms.setdefault(alias.replace(".", ""), entry)
                else:
                    self._folded.setdefault(fold(alias), entry)
            for demonym in entry.demonyms:
                self._demonyms.setdefault(fold(demonym), entry)
        variants = sorted(self._surface_variants())
        self._pattern = _compile(set(variants))
        # Every occurrence of every form (overlapping), as the regex could try them.
        self._automaton = AhoCorasick(
            variants, matchkind=MatchKind.Standard, implementation=Implementation.ContiguousNFA
        )
        self._replacements: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> KnowledgeBase:
        """Read the knowledge base (default: the packaged ``workers/data/kb.json``)."""
        data = json.loads((path or DEFAULT_PATH).read_text(encoding="utf-8"))
        entries = [
            KBEntry(
                name=item["name"],
                label=item["label"],
                qid=item.get("qid"),
                aliases=tuple(item.get("aliases", ())),
                demonyms=tuple(item.get("demonyms", ())),
            )
            for item in data["entities"]
        ]
        return cls(entries, str(data["version"]))

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, surface: str) -> KBEntry | None:
        """The entry a surface form names, or None (demonyms are not names: see ``demonym``)."""
        key = _acronym_key(surface)
        entry = self._acronyms.get(key)
        if entry is not None:
            return entry
        if len(key) >= 4 and key.istitle() and key.isalpha():
            entry = self._acronyms.get(key.upper())
            if entry is not None:
                return entry
        if surface == surface.lower():
            return None
        return self._folded.get(fold(surface))

    def demonym(self, surface: str) -> KBEntry | None:
        """The country (or place) a demonym such as "Iraqi" or "Canadians" refers to."""
        if surface == surface.lower():
            return None
        return self._demonyms.get(fold(surface))

    def find(self, text: str) -> Iterator[tuple[int, int, KBEntry]]:
        """Every alias occurrence in ``text``: (start, end, entry), left to right, longest first."""
        for match in self._pattern.finditer(text):
            if _glued(text, match.start()):
                continue
            entry = self.lookup(match.group())
            if entry is not None:
                yield match.start(), match.end(), entry

    def canonicalise_text(self, text: str) -> str:
        """Replace every alias occurrence in ``text`` with its entry's canonical name.

        The same rewrite as ``self._pattern.sub(...)`` (tests compare them): scanning left to
        right, a match is the longest form starting at a position that is not followed by a
        word character; a match glued to the word before it is kept as written but still
        consumed, and scanning resumes after it.
        """
        occurrences = self._automaton.find_matches_as_indexes(text, overlapping=True)
        if not occurrences:
            return text
        size = len(text)
        longest: dict[int, int] = {}  # start -> end of the longest form ending at a word edge
        for _, start, end in occurrences:
            if end < size and _is_word(text[end]):
                continue
            if end > longest.get(start, start):
                longest[start] = end
        pieces: list[str] = []
        scanned = copied = 0
        for start in sorted(longest):
            if start < scanned:
                continue  # inside an earlier match
            scanned = longest[start]
            if _glued(text, start):
                continue
            surface = text[start:scanned]
            replacement = self._replacement(surface)
            if replacement != surface:
                pieces += (text[copied:start], replacement)
                copied = scanned
        if not pieces:
            return text
        pieces.append(text[copied:])
        return "".join(pieces)

    def _replacement(self, surface: str) -> str:
        replacement = self._replacements.get(surface)
        if replacement is None:
            entry = self.lookup(surface)
            replacement = entry.name if entry is not None else surface
            # Bounded: surfaces are case variants of the finite alias set.
            self._replacements[surface] = replacement
        return replacement

    def _surface_variants(self) -> set[str]:
        """The forms the scanning regex knows: as written (capitalised) and in capitals; acronyms
        also with periods (U.S.) and, from four letters, in title case (Nato)."""
        variants: set[str] = set()
        for key in self._acronyms:
            variants.update((key, ".".join(key) + "."))
            if len(key) >= 4 and key.isalpha():
                variants.add(key.title())
        for entry in self.entries:
            for alias in (entry.name, *entry.aliases):
                if not is_acronym(alias):
                    for form in (alias, _american(alias)):
                        form = form[0].upper() + form[1:]
                        variants.update((form, form.upper()))
        return {v for v in variants if v}


def _is_word(char: str) -> bool:
    """``\\w`` of Python's ``re`` for one character of a str pattern."""
    return char.isalnum() or char == "_"


def _glued(text: str, start: int) -> bool:
    """True when a match starts inside a word (or right after a period, as in "e.U.S")."""
    if start == 0:
        return False
    before = text[start - 1]
    return before.isalnum() or before in "._"


def _american(alias: str) -> str:
    return re.sub(r"(?<=\w)is(?=ation)", "iz", alias).replace("Defence", "Defense")


def _compile(variants: set[str]) -> re.Pattern[str]:
    """One case-sensitive regex whose alternation is a character trie.

    No leading assertion: that lets the regex engine skip quickly to positions where a name can
    start (~20 us per article); the left word boundary is checked on each match (``_glued``).
    """
    trie: dict[str, dict] = {}
    for word in variants:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, dict]) -> str:
        if "" in node and len(node) == 1:
            return ""
        optional = "" in node
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if optional:
            body = "(?:" + body + ")?"
        return body

    return re.compile("(?:" + render(trie) + r")(?!\w)")
