"""Knowledge base of canonical entities: places, legislators, parties, curated organisations.

The data lives in ``workers/data/kb.json`` (versioned; regenerate it with ``python -m
workers.tools.kb_build`` from the pinned, sourced extracts). ``KnowledgeBase.load()`` reads it once.
Two tiers:

* the **core** entries (curated, countries, US states, UK nations, capitals, cities of 1M+: about
  1,200) feed ``lookup``, ``find`` and the dedup normaliser ``canonicalise_text``, so their cost
  stays bounded whatever the size of the whole base;
* **every** entry (50,000+) is reachable through ``candidates``, which the entity linker uses to
  choose among same-named entities (``Georgia`` the country or the US state); that index is built
  on first use, so processes that only canonicalise never pay for it.

The core lookup tables and regular expression:

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

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from ahocorasick_rs import AhoCorasick, Implementation, MatchKind

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "kb.json"
_ROWS_START = b'"entities": [\n'
LOOKUP_MEMORY = 100_000  # surfaces whose lookup result a knowledge base keeps


def _header(raw: bytes) -> tuple[dict[str, Any], bytes]:
    """(the file's header fields, the entity rows that follow them)."""
    head, _, body = raw.partition(_ROWS_START)
    return orjson.loads(head + b'"entities": []}'), body

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
    """One canonical entity. ``label`` is an OntoNotes label (GPE, ORG, LOC, NORP, PERSON ...).

    ``kind``: country, region, city, town, person, party, org or place (curated); ``country``: ISO
    3166-1 alpha-2; ``region``: QID of a place's first-level region; ``prior``: log10(1 +
    population) for places, log10(1 + terms served) for people; ``core``: in the bounded tier.
    """

    name: str
    label: str
    qid: str | None
    aliases: tuple[str, ...]
    demonyms: tuple[str, ...] = ()
    kind: str = "org"
    country: str = ""
    region: str = ""
    prior: float = 0.0
    core: bool = True
    lat: float | None = None
    lon: float | None = None


def is_acronym(alias: str) -> bool:
    """``NATO``, ``U.S.``, ``G7``: upper-case letters (and digits), periods allowed, 2-6 long."""
    bare = alias.replace(".", "")
    return 2 <= len(bare) <= 6 and bare.isalnum() and bare.isupper()


@lru_cache(maxsize=1 << 17)
def fold(surface: str) -> str:
    """The case/article/spelling-insensitive key of a non-acronym surface form.

    Cached: tagging folds each surface of an article many times over (lookups, candidates,
    grouping), and the same names recur across articles."""
    text = _POSSESSIVE.sub("", _LEADING_THE.sub("", surface.strip()))
    text = _NON_WORD.sub(" ", text.replace(".", "")).strip().casefold()
    for pattern, replacement in _SPELLING:
        text = pattern.sub(replacement, text)
    # Spaces and hyphens last: "Co-operation" = "Cooperation", "al-Qaeda" = "al Qaeda".
    return text.replace(" ", "")


def _quick_fold(alias: str) -> str:
    """``fold`` with a fast path for plain names (letters and single spaces, no leading "the")."""
    bare = alias.replace(" ", "")
    if bare.isalpha() and alias[:4].casefold() != "the ":
        key = bare.casefold()
        if "iz" not in key and "defense" not in key and "center" not in key:
            return key
    return fold(alias)


def index_key(alias: str) -> str:
    """The key under which the candidate index files an alias: an acronym as written (periods
    dropped, behind a NUL so it never meets a folded key), any other name folded."""
    return "\0" + alias.replace(".", "") if is_acronym(alias) else _quick_fold(alias)


def _acronym_key(surface: str) -> str:
    return _POSSESSIVE.sub("", _LEADING_THE.sub("", surface.strip())).replace(".", "")


class KnowledgeBase:
    """Canonical entities with tolerant alias lookup; build with :meth:`load`."""

    def __init__(self, entries: list[KBEntry], version: str,
                 rest: Callable[[], list[KBEntry]] | None = None) -> None:
        """``entries``: at least the core ones; ``rest``: loads the others when first needed."""
        self.version = version
        self._entries: tuple[KBEntry, ...] | None = None if rest is not None else tuple(entries)
        self._first = tuple(entries)
        self._rest = rest
        self.core = tuple(e for e in entries if e.core)
        self._acronyms: dict[str, KBEntry] = {}
        self._folded: dict[str, KBEntry] = {}
        self._demonyms: dict[str, KBEntry] = {}
        self._index: dict[str, tuple[KBEntry, ...]] | None = None
        # Earlier entries win a clash: the data file lists curated entries, then countries,
        # other core places by population, then the rest.
        for entry in self.core:
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
        self._looked_up: dict[str, KBEntry | None] = {}

    @staticmethod
    def file_version(path: Path | None = None) -> str:
        """The version in a knowledge-base file's header, without building any table."""
        return str(_header((path or DEFAULT_PATH).read_bytes())[0]["version"])

    @classmethod
    def load(cls, path: Path | None = None) -> KnowledgeBase:
        """Read the knowledge base (default: the packaged ``workers/data/kb.json``)."""
        raw = (path or DEFAULT_PATH).read_bytes()
        data, body = _header(raw)
        at = {column: i for i, column in enumerate(data["columns"])}
        n, lb, q, k, a, d, c, r, la, lo, p, co = (at[x] for x in (
            "name", "label", "qid", "kind", "aliases", "demonyms", "country", "region", "lat",
            "lon", "prior", "core"))

        def entries(lines: list[bytes]) -> list[KBEntry]:
            body = b"\n".join(line for line in lines if line not in (b"", b"]}"))
            rows = orjson.loads(b"[" + body.rstrip(b",") + b"]")
            return [KBEntry(row[n], row[lb], row[q], tuple(row[a]), tuple(row[d]), row[k],
                            row[c], row[r], row[p], bool(row[co]), row[la], row[lo])
                    for row in rows]

        core_rows = int(data["core_rows"])  # the core entries come first
        first = entries(body.split(b"\n", core_rows)[:core_rows])
        del raw, body  # a process that only canonicalises keeps none of the rest in memory
        source = path or DEFAULT_PATH

        def rest() -> list[KBEntry]:
            return entries(source.read_bytes().partition(_ROWS_START)[2].split(b"\n")[core_rows:])

        kb = cls(first, str(data["version"]), rest=rest)
        kb.count = int(data["count"])
        return kb

    @property
    def entries(self) -> tuple[KBEntry, ...]:
        """Every entry, core first (loads the non-core ones on first use)."""
        if self._entries is None:
            rest = self._rest() if self._rest is not None else []
            self._entries = self._first + tuple(rest)
            self._rest = None
        return self._entries

    def candidates(self, surface: str) -> tuple[KBEntry, ...]:
        """Every entry (core or not) a surface names, most prior first; demonyms excluded.

        Acronyms match as written (and in title case from four letters, as in ``lookup``);
        other names after ``fold``, only when the surface has a capital letter.
        """
        if self._index is None:
            self._index = self._build_index()
        key = _acronym_key(surface)
        found = self._index.get("\0" + key, ())
        if not found and len(key) >= 4 and key.istitle() and key.isalpha():
            found = self._index.get("\0" + key.upper(), ())
        if surface == surface.lower():
            return found
        return found + tuple(e for e in self._index.get(fold(surface), ()) if e not in found)

    def warm(self) -> KnowledgeBase:
        """Build the full candidate index now (~1 s, ~60 MiB) rather than on the first article."""
        if self._index is None:
            self._index = self._build_index()
        return self

    def _build_index(self) -> dict[str, tuple[KBEntry, ...]]:
        index: dict[str, list[KBEntry]] = {}
        for entry in self.entries:
            for key in {index_key(alias) for alias in (entry.name, *entry.aliases)}:
                index.setdefault(key, []).append(entry)
        return {key: tuple(sorted(found, key=lambda e: (not e.core, -e.prior)))
                for key, found in index.items()}

    count: int | None = None

    def __len__(self) -> int:
        return self.count if self.count is not None else len(self.entries)

    def lookup(self, surface: str) -> KBEntry | None:
        """The entry a surface form names, or None (demonyms are not names: see ``demonym``).

        Remembered per surface (tagging asks for the same surfaces many times an article); the
        memory is emptied when it reaches ``LOOKUP_MEMORY`` surfaces."""
        try:
            return self._looked_up[surface]
        except KeyError:
            pass
        entry = self._lookup(surface)
        if len(self._looked_up) >= LOOKUP_MEMORY:
            self._looked_up.clear()
        self._looked_up[surface] = entry
        return entry

    def _lookup(self, surface: str) -> KBEntry | None:
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
        entry = self.lookup(surface)  # remembered per surface
        return entry.name if entry is not None else surface

    def _surface_variants(self) -> set[str]:
        """The forms the scanning regex knows: as written (capitalised) and in capitals; acronyms
        also with periods (U.S.) and, from four letters, in title case (Nato)."""
        variants: set[str] = set()
        for key in self._acronyms:
            variants.update((key, ".".join(key) + "."))
            if len(key) >= 4 and key.isalpha():
                variants.add(key.title())
        for entry in self.core:
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
