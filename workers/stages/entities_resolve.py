"""Turn a model's raw entity spans for one article into canonical entities.

Pure functions, no spaCy: the input is ``(start, end, label)`` character spans the model found in
the title and the text, the output ``records.Entity`` values. The rules, in order:

1. **Knowledge base first.** Model spans lose edge punctuation, possessives, a lower-case "the"
   and trailing lower-case words; one naming a core KB entry takes its name and label; a demonym
   ("Iraqi") is linked to its country and kept apart from the entities; a span listing KB names
   ("Brussels Belgium") is split, and so is a mixed-case name running into upper-case words (a
   byline into its dateline, "Glenn Somerville WASHINGTON") and a span at a spaced dash
   ("UNITED STATES - Prices"); KB names the model missed or cut short are added (dates never
   hide them).
2. **Partial person names.** A span whose words are part of exactly one multi-word PERSON name
   in the article ("Stoltenberg" with "Jens Stoltenberg") is that person, whatever the model
   said; untagged occurrences of the surname are added, in capitals too (a headline's
   "SHEARER" is "Alan Shearer"). Other names tagged once are added
   wherever else they occur in the article.
3. **Linking** (``entities_link``): every mention picks among all same-named KB entries by type
   agreement, prior popularity and the article's other entities, or keeps no QID when unsure.
4. **One entity, one label.** Mentions group by QID, else canonical name (full person name or the
   folded surface); a group takes the KB label, else the majority of the model's labels.
5. **Salience** in [0, 1]: 0.4 if named in the title, 0.3 if in the first paragraph, plus 0.3
   times the mention count relative to the article's most-mentioned entity.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workers.kb import KBEntry, KnowledgeBase, fold
from workers.records import Demonym, Entity, Mention
from workers.stages.entities_link import agreeing, anchors, choose, context, spelled_out

NUMERIC_LABELS = frozenset(
    {"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"}
)
# Types a news-trained model tells apart from places by context (teams named after cities: 67
# correct ORG spans of the CoNLL dev split were relabelled as places before); a knowledge-base
# place never overrides them. PERSON is not here: a place the model calls a person is usually
# the place ("flew to Jordan"), unless it is a known surname in the article (rule 2).
CONFIDENT_LABELS = frozenset({"ORG"})
RawSpan = tuple[int, int, str]  # (start_char, end_char, OntoNotes label) from the model
_POSSESSIVE = re.compile(r"(?:['’]s?)$")
# What may sit between the KB names of one model span for it to be split into them.
_GLUE = re.compile(r"^[\s,/&()\-]*(?:and)?[\s,/&()\-]*$")
_TAIL_WORDS = re.compile(r"(?:\s+[a-z][a-z\-]*)+$")
_SEPARATOR = re.compile(r"\s*[,;()]\s*")
_LEAD_JUNK = re.compile(r"^[\s\W_]+")
_WORD = re.compile(r"\S+")
_MIXED = re.compile(r"^[A-Z][a-z]+(?:[-'’][A-Za-z]+)*[.,]?$")  # "Somerville", "O'Neill"
_UPPER = re.compile(r"^[A-Z]{3,}(?:-[A-Z]+)*[.,]?$")  # "WASHINGTON", "AL-RAM"
_DASH = re.compile(r"\s+[-–—]+\s+")
_ROMAN = re.compile(r"^[IVXLC]+[.,]?$")
_PLACES = frozenset({"GPE", "LOC", "FAC"})
_TAIL_JUNK = re.compile(r"(?:\s*['’]s?|[\s\-–—,;:(\"'“”‘’/]+)+$")


@dataclass(slots=True)
class Span:
    """One mention being resolved; ``key`` is the canonical name it will group under."""

    start: int
    end: int
    text: str
    label: str
    in_title: bool
    entry: KBEntry | None = None
    key: str = ""
    person: bool = False  # resolved to a full person name: the label is fixed
    model_label: str = ""  # what the model said of exactly this span ("" if it did not tag it)
    demonym: bool = False  # "Iraqi": linked to its place, not an entity of its own


def _name(text: str) -> str:
    return _POSSESSIVE.sub("", text.strip())


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def kb_spans(part: str, model: Iterable[RawSpan], kb: KnowledgeBase, in_title: bool) -> list[Span]:
    """Rule 1 on one part (title or text): model spans relabelled, split or extended by the KB."""
    hits = list(kb.find(part))
    kept: list[Span] = []
    for raw_start, raw_end, label in model:
        start, end = _trim(part, raw_start, raw_end)
        if kb.lookup(part[start:end]) is None:
            start, end = _trim_words(part, start, end)
        if start >= end:
            continue
        if label in NUMERIC_LABELS and any(_overlaps((start, end), h[:2]) for h in hits):
            continue  # "England 1996-08-31" read as a date: the KB name wins
        start, end, tail = _caps_tail(part, start, end, label, kb)
        start, end, after = _dash_cut(part, start, end, kb)
        tail += after
        for s, e in [*_pieces(part, start, end, kb), *tail]:
            kept.append(_model_span(part, s, e, label, in_title, kb))
    for start, end, entry in hits:
        covering = [k for k in kept if _overlaps((k.start, k.end), (start, end))]
        if any(k.start + _article(k.text) < start or k.end > end for k in covering):
            continue  # inside or across a longer model span ("NATO Headquarters"): keep it
        said = next((k.model_label for k in covering if (k.start, k.end) == (start, end)), "")
        replaced = {id(k) for k in covering}
        kept = [k for k in kept if id(k) not in replaced]
        kept.append(Span(start, end, part[start:end], entry.label, in_title, entry, entry.name,
                         model_label=said))
    kept.sort(key=lambda s: s.start)
    return kept


def _model_span(part: str, start: int, end: int, label: str, in_title: bool,
                kb: KnowledgeBase) -> Span:
    text = part[start:end]
    entry = kb.lookup(text)
    if entry is not None:
        return Span(start, end, text, entry.label, in_title, entry, entry.name, model_label=label)
    country = kb.demonym(text)
    if country is not None:
        demonym = country.demonyms[0] if country.demonyms else _name(text)
        return Span(start, end, text, "NORP", in_title, country, demonym, model_label=label,
                    demonym=True)
    return Span(start, end, text, label, in_title, model_label=label)


def _caps_tail(part: str, start: int, end: int, label: str,
               kb: KnowledgeBase) -> tuple[int, int, list[tuple[int, int]]]:
    """Cut a name in mixed case off the upper-case words that follow it.

    A byline runs into its dateline ("Glenn Somerville WASHINGTON 1996-08-30"), a team into
    a heading ("National League CHICAGO"): the mixed-case words are the name. Cut when the
    upper-case tail is a place the knowledge base knows (kept as a span of its own), or when the
    model calls the whole a person (a tail the KB does not know is dropped). "Henry VIII" and
    "Chicago NAPM" stay whole.
    """
    words = list(_WORD.finditer(part, start, end))
    for i in range(1, len(words)):
        head, tail = words[:i], words[i:]
        if not (all(_MIXED.match(w.group()) for w in head)
                and all(_UPPER.match(w.group()) and not _ROMAN.match(w.group())
                        for w in tail)):
            continue
        rest = _trim(part, tail[0].start(), end)
        entry = kb.lookup(part[rest[0]:rest[1]])
        if entry is not None and entry.label in _PLACES:
            return start, head[-1].end(), [rest]
        if label == "PERSON":
            return start, head[-1].end(), []
        break
    return start, end, []


def _dash_cut(part: str, start: int, end: int,
              kb: KnowledgeBase) -> tuple[int, int, list[tuple[int, int]]]:
    """Cut a span at a spaced dash ("UNITED STATES - Prices", "LE TEMPS - Trade"): names do
    not contain one, headlines and results lines do. The first piece is the span; the pieces
    after it are kept only where the knowledge base names them."""
    dashes = list(_DASH.finditer(part, start, end))
    if not dashes:
        return start, end, []
    bounds = [d.end() for d in dashes], [d.start() for d in dashes[1:]] + [end]
    pieces = [_trim(part, s, e) for s, e in zip(*bounds, strict=True)]
    rest = [(s, e) for s, e in pieces if s < e and kb.lookup(part[s:e]) is not None]
    return start, dashes[0].start(), rest


def _trim(part: str, start: int, end: int) -> tuple[int, int]:
    """Drop punctuation, spaces and a possessive the model left at a span's edges."""
    text = part[start:end]
    lead = len(text) - len(_LEAD_JUNK.sub("", text))
    tail = _TAIL_JUNK.search(text[lead:])
    return start + lead, end - (len(tail.group()) if tail else 0)


def _trim_words(part: str, start: int, end: int) -> tuple[int, int]:
    """Drop a lower-case "the" before and lower-case words after a name ("Interfax news agency")."""
    text = part[start:end]
    if text.startswith("the "):
        start += 4
    tail = _TAIL_WORDS.search(part, start, end)
    if tail is not None and tail.start() > start:
        end = tail.start()
    return start, end


def _pieces(part: str, start: int, end: int, kb: KnowledgeBase) -> list[tuple[int, int]]:
    """A span listing names ("Brussels Belgium", "The Oval, London") split where the KB says so."""
    cuts = [(m.start(), m.end()) for m in _SEPARATOR.finditer(part, start, end)]
    if not cuts:
        return _words_split(part, start, end, kb)
    pieces, position = [], start
    for cut_start, cut_end in cuts:
        pieces.append((position, cut_start))
        position = cut_end
    pieces.append((position, end))
    pieces = [p for p in (_trim(part, *p) for p in pieces) if p[0] < p[1]]
    if not any(kb.lookup(part[s:e]) is not None for s, e in pieces):
        return [(start, end)]
    return [piece for s, e in pieces for piece in _words_split(part, s, e, kb)]


def _words_split(part: str, start: int, end: int, kb: KnowledgeBase) -> list[tuple[int, int]]:
    """Split a span that is only KB names separated by spaces or "and" into those names."""
    if kb.lookup(part[start:end]) is not None:
        return [(start, end)]
    inside = [h for h in kb.find(part[start:end])]
    if inside and _tiles(part[start:end], 0, end - start, inside):
        return [(start + s, start + e) for s, e, _ in inside]
    return [(start, end)]


def _article(text: str) -> int:
    """Length of a leading "the " (model spans often include it, KB names never do)."""
    return 4 if text[:4].lower() == "the " else 0


def _tiles(part: str, start: int, end: int, hits: list[tuple[int, int, KBEntry]]) -> bool:
    position = start
    for s, e, _ in sorted(hits, key=lambda h: h[0]):
        if s < position or not _GLUE.match(part[position:s]):
            return False
        position = e
    return bool(_GLUE.match(part[position:end]))


def resolve_people(spans: list[Span], parts: dict[bool, str], kb: KnowledgeBase) -> list[Span]:
    """Rule 2: partial names to the article's full PERSON names; add untagged surname mentions."""
    full: dict[str, tuple[str, ...]] = {}
    for span in spans:
        words = tuple(_name(span.text).split())
        if (span.label == "PERSON" and span.entry is None and len(words) >= 2
                and words[0][0].isupper() and kb.lookup(words[0]) is None):
            full.setdefault(" ".join(words), words)
    surnames = {words[-1] for words in full.values()}
    # "Lebed Chechnya" (a headline: "Yeltsin endorses Lebed Chechnya peace plan") beside
    # "Alexander Lebed": a surname followed by another name, not a person's full name.
    full = {name: words for name, words in full.items() if words[0] not in surnames}
    if not full:
        return spans
    # A headline in capitals ("SHEARER NAMED AS ENGLAND CAPTAIN") names the same people.
    shouted = {name: tuple(w.upper() for w in words) for name, words in full.items()}
    for span in spans:
        words = tuple(_name(span.text).split())
        names = shouted if all(w.isupper() for w in words) else full
        owner = next((name for name, parts in names.items() if parts == words), None)
        owner = owner or _owner(words, names)
        if owner is not None and span.entry is not None and words[-1] != names[owner][-1]:
            continue  # a KB name ("Jordan") is a person only as a known person's surname
        if owner is not None:
            span.key, span.label, span.person, span.entry = owner, "PERSON", True, None
    for name, words in full.items():
        surname = words[-1]
        if len(surname) < 3 or not surname[0].isupper() or _owner((surname,), full) != name:
            continue
        for in_title, part in parts.items():
            for where in word_occurrences(part, (surname, surname.upper())):
                if not any(s.in_title == in_title and _overlaps((s.start, s.end), where)
                           for s in spans):
                    spans.append(Span(*where, part[where[0]:where[1]], "PERSON", in_title,
                                      None, name, True))
    spans.sort(key=lambda s: (not s.in_title, s.start))
    return spans


def propagate_names(spans: list[Span], parts: dict[bool, str]) -> list[Span]:
    """Add the untagged occurrences of names the model tagged elsewhere in the article."""
    names: dict[str, str] = {}
    for span in spans:
        surface = _name(span.text)
        if (span.entry is None and not span.person and span.label not in NUMERIC_LABELS
                and len(surface) >= 3 and surface[0].isupper()):
            names.setdefault(surface, span.label)
    if not names:
        return spans
    occupied = {in_title: [(s.start, s.end) for s in spans if s.in_title == in_title]
                for in_title in parts}
    for in_title, part in parts.items():
        for where in word_occurrences(part, names):
            if not any(_overlaps(where, o) for o in occupied[in_title]):
                found = part[where[0]:where[1]]
                label = names[found]
                spans.append(Span(*where, found, label, in_title, model_label=label))
    spans.sort(key=lambda s: (not s.in_title, s.start))
    return spans


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # what \w matches in a str pattern


def word_occurrences(text: str, forms: Iterable[str]) -> list[tuple[int, int]]:
    """Where any of ``forms`` occurs in ``text`` as whole words, left to right, without
    overlaps, the longest form first at a position: the matches of the regex
    ``(?<!\\w)(?:a|b|...)(?!\\w)`` with its alternatives longest first, found with ``str.find``
    (an article's own names made a pattern to compile for every article)."""
    found: list[tuple[int, int]] = []
    for form in set(forms):
        if not form:
            continue
        at = text.find(form)
        while at >= 0:
            end = at + len(form)
            if ((at == 0 or not _is_word_char(text[at - 1]))
                    and (end == len(text) or not _is_word_char(text[end]))):
                found.append((at, end))
            at = text.find(form, at + 1)
    found.sort(key=lambda where: (where[0], -where[1]))
    chosen: list[tuple[int, int]] = []
    for start, end in found:
        if not chosen or start >= chosen[-1][1]:
            chosen.append((start, end))
    return chosen


def _owner(words: tuple[str, ...], full: dict[str, tuple[str, ...]]) -> str | None:
    """The one full name that contains ``words`` as a contiguous proper part, else None."""
    if not words:
        return None
    owners = [
        name for name, parts in full.items()
        if len(words) < len(parts)
        and any(parts[i:i + len(words)] == words for i in range(len(parts) - len(words) + 1))
    ]
    return owners[0] if len(owners) == 1 else None


def link(spans: list[Span], kb: KnowledgeBase) -> list[Span]:
    """Rule 3: each mention's entry chosen among all same-named KB entries, or none if unsure."""
    todo = [s for s in spans if not s.demonym and s.label not in NUMERIC_LABELS]

    def surface(span: Span) -> str:
        return span.key if span.person else _name(span.text)

    def label(span: Span) -> str:
        return "PERSON" if span.person else span.model_label

    places = [s.entry for s in spans if s.demonym and s.entry is not None]
    found = anchors(((surface(s), label(s)) for s in todo), kb)
    named = {fold(surface(s)) for s in todo}
    for span in todo:
        candidates = kb.candidates(surface(span))
        if len(surface(span).split()) < 2:  # one word names no person reliably ("Oscar")
            candidates = tuple(c for c in candidates if c.kind != "person")
        if not candidates:
            continue
        agree = agreeing(candidates, label(span))
        if not agree and label(span) not in CONFIDENT_LABELS:
            # the model's type is off ("NATO" as WORK_OF_ART or NORP): trusted for core entries
            # only. An organisation the model saw stays one: "New York" beating "Chicago" is
            # a team, not a city; "AMD" is no town in Yemen.
            agree = [c for c in candidates if c.core]
        chosen = choose(agree, context(found, places, surface(span)))
        if chosen is not None and not spelled_out(chosen, surface(span), named):
            chosen = None
        if chosen is None:
            if span.entry is not None:
                span.key = surface(span)
                span.label = span.model_label or span.label
            span.entry = None
            continue
        span.entry = chosen
        if not span.person:
            span.key, span.label = chosen.name, chosen.label
    return spans


def _group_key(span: Span) -> str:
    if span.demonym:
        return "demonym:" + fold(span.key)
    if span.entry is not None and span.entry.qid:
        return span.entry.qid
    return fold(span.key)


def group(spans: Sequence[Span], include_numeric: bool) -> dict[str, list[Span]]:
    """Rule 4: mentions by QID or canonical name, each group relabelled to one label."""
    groups: dict[str, list[Span]] = {}
    for span in spans:
        if span.label in NUMERIC_LABELS and not include_numeric:
            continue
        span.key = span.key or _name(span.text)
        key = _group_key(span)
        if not key or key == "demonym:":
            continue
        groups.setdefault(key, []).append(span)
    for members in groups.values():
        fixed = next((s for s in members if s.person or s.entry is not None), None)
        label = fixed.label if fixed is not None else _majority(s.label for s in members)
        for span in members:
            span.label = label
    return groups


def _majority(labels: Iterable[str]) -> str:
    counts = Counter(labels)
    best = max(counts.values())
    return next(label for label in counts if counts[label] == best)


def entities(groups: dict[str, list[Span]], text: str) -> tuple[Entity, ...]:
    """Rule 5 and the output records, most salient first; demonyms are left out."""
    groups = {key: members for key, members in groups.items() if not members[0].demonym}
    if not groups:
        return ()
    lead_end = text.find("\n\n")
    lead_end = len(text) if lead_end < 0 else lead_end
    most = max(len(members) for members in groups.values())
    out = []
    for members in groups.values():
        first = members[0]
        name = first.entry.name if first.entry is not None and first.label != "NORP" else first.key
        in_title = any(s.in_title for s in members)
        in_lead = any(not s.in_title and s.start < lead_end for s in members)
        salience = 0.4 * in_title + 0.3 * in_lead + 0.3 * len(members) / most
        out.append(Entity(
            name=name,
            label=first.label,
            qid=first.entry.qid if first.entry is not None else None,
            mentions=tuple(Mention(s.text, s.start, s.end, s.in_title) for s in members),
            salience=round(salience, 4),
        ))
    out.sort(key=lambda e: (-e.salience, e.name))
    return tuple(out)


def demonyms(groups: dict[str, list[Span]]) -> tuple[Demonym, ...]:
    """The demonym groups ("German", "Iraqis") with the place each links to, most used first."""
    out = []
    for members in groups.values():
        first = members[0]
        if first.demonym and first.entry is not None:
            out.append(Demonym(
                name=first.key, place=first.entry.name, qid=first.entry.qid,
                mentions=tuple(Mention(s.text, s.start, s.end, s.in_title) for s in members)))
    out.sort(key=lambda d: (-len(d.mentions), d.name))
    return tuple(out)


def resolve_all(
    title: str | None,
    text: str,
    title_spans: Iterable[RawSpan],
    text_spans: Iterable[RawSpan],
    kb: KnowledgeBase,
    include_numeric: bool = False,
    propagate: bool = True,
) -> tuple[tuple[Entity, ...], tuple[Demonym, ...]]:
    """All rules on one article: its entities and, apart, its demonyms."""
    spans = kb_spans(title, title_spans, kb, True) if title else []
    spans += kb_spans(text, text_spans, kb, False)
    parts = {False: text} if not title else {True: title, False: text}
    spans = resolve_people(spans, parts, kb)
    if propagate:
        spans = propagate_names(spans, parts)
    groups = group(link(spans, kb), include_numeric)
    return entities(groups, text), demonyms(groups)


def resolve(
    title: str | None,
    text: str,
    title_spans: Iterable[RawSpan],
    text_spans: Iterable[RawSpan],
    kb: KnowledgeBase,
    include_numeric: bool = False,
    propagate: bool = True,
) -> tuple[Entity, ...]:
    """The entities of one article (``resolve_all`` without the demonyms)."""
    return resolve_all(title, text, title_spans, text_spans, kb, include_numeric, propagate)[0]
