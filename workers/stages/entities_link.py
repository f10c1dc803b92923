"""Entity linking: choose the knowledge-base entry a mention names, or none when unsure.

Pure and per article. Every mention's surface (or the full person name it was resolved to) is
looked up among all same-named entries (``KnowledgeBase.candidates``), and each candidate gets a
score from three general features:

* **type agreement** with the model's label: a PERSON mention links only to people, an ORG
  mention only to organisations and parties, a GPE/LOC/FAC mention only to places (a KB name the
  model labelled otherwise - "North Atlantic Treaty Organisation" as WORK_OF_ART - keeps its
  unique core entry, as before);
* **prior popularity**: the kind (country > region > city > town) and log population for
  places; terms served for people;
* **context**: the article's mentions that link by prior alone ("anchors") and the places of its
  demonyms give countries and regions; a city in an anchor country gains much, a region a little
  and more when other regions of its country are named ("Georgia" among "Ohio" and "Florida"),
  a country gains per other country named ("Georgia" beside "Russia"); towns (small places),
  people and (non-core) organisations of one country link only when their country is in the
  context; an organisation reached only by an acronym alias ("CBI") needs its full name in the
  article too (``spelled_out``).

The best candidate links when it beats the runner-up by ``MARGIN``; otherwise the mention keeps
its surface as name and gets no QID.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from workers.kb import KBEntry, KnowledgeBase, fold, is_acronym

MARGIN = 1.0
MIN_SCORE = 2.5
PLACE_KINDS = frozenset({"country", "region", "city", "town", "place"})
_ALLOWED = {
    "PERSON": frozenset({"person"}),
    "ORG": frozenset({"org", "party"}),
    "GPE": PLACE_KINDS,
    "LOC": PLACE_KINDS,
    "FAC": PLACE_KINDS,
    "NORP": frozenset({"party", "org"}),  # "Democrats", "Tories"
    "": frozenset({"org", "party", *PLACE_KINDS}),  # a KB name the model did not tag
}
_NONE: frozenset[str] = frozenset()  # PRODUCT, EVENT, WORK_OF_ART ...: core entries only


@dataclass(slots=True)
class Context:
    """What the article's unambiguous mentions say: countries, regions, and their counts."""

    countries: set[str] = field(default_factory=set)
    regions: dict[str, set[str]] = field(default_factory=dict)  # country -> region QIDs

    def add(self, entry: KBEntry) -> None:
        if entry.country:
            self.countries.add(entry.country)
        if entry.kind == "region" and entry.qid:
            self.regions.setdefault(entry.country, set()).add(entry.qid)
        elif entry.region:
            self.regions.setdefault(entry.country, set()).add(entry.region)


def allowed_kinds(label: str) -> frozenset[str]:
    """Entry kinds a mention with this model label may link to."""
    return _ALLOWED.get(label, _NONE)


def agreeing(candidates: Iterable[KBEntry], label: str) -> list[KBEntry]:
    kinds = allowed_kinds(label)
    return [c for c in candidates if c.kind in kinds]


def spelled_out(entry: KBEntry, surface: str, named: set[str]) -> bool:
    """False for a non-core organisation that ``surface`` reaches only by an acronym alias
    ("CEA" of the Council of Economic Advisers, "CBI" of the Conservation Biology Institute)
    when the article does not name it in full too (``named``: the folded surfaces of its
    mentions): the same letters name too many bodies. An organisation whose own name is the
    acronym ("BMW") needs no full name. Checked on the chosen entry only, so a tie between
    same-named entries still gives no link."""
    if entry.kind != "org" or entry.core or is_acronym(entry.name):
        return True
    full = {fold(a) for a in (entry.name, *entry.aliases) if not is_acronym(a)}
    return fold(surface) in full or bool(full & named)


def anchors(mentions: Iterable[tuple[str, str]], kb: KnowledgeBase) -> dict[str, KBEntry]:
    """Mentions (surface, label) that link by prior alone, keyed by folded surface."""
    empty = Context()
    found: dict[str, KBEntry] = {}
    for surface, label in mentions:
        entry = choose(agreeing(kb.candidates(surface), label), empty)
        if entry is not None:
            found.setdefault(fold(surface), entry)
    return found


def context(found: dict[str, KBEntry], places: Iterable[KBEntry], surface: str) -> Context:
    """The context a mention sees: every anchor but those of its own surface, and ``places``
    (those the article's demonyms name)."""
    ctx = Context()
    own = fold(surface)
    for key, entry in found.items():
        if key != own:
            ctx.add(entry)
    for entry in places:
        ctx.add(entry)
    return ctx


def score(entry: KBEntry, ctx: Context) -> float:
    """Prior plus context; see the module docstring."""
    if entry.kind == "country":
        others = len(ctx.countries - {entry.country})
        return 4.0 + 0.5 * min(others, 3)
    if entry.kind in ("region", "city", "town"):
        base = 1.0 + entry.prior / 2 if entry.prior else 3.0
        if entry.kind == "town":
            base = 0.5 + entry.prior / 4
        regions = ctx.regions.get(entry.country, set())
        if entry.kind == "region":  # a region needs more than its country being named
            base += 0.5 * (entry.country in ctx.countries) + 2.0 * bool(regions - {entry.qid})
        elif entry.country in ctx.countries:
            base += 0.5 * entry.core + 2.0
        elif entry.core:  # capitals and cities of 1M+ are named without their country
            base += 0.5
        else:  # a smaller place abroad while the article names other countries
            base -= 1.5 * bool(ctx.countries)
            base += 1.5 * bool(entry.region and entry.region in regions)
        return base
    if entry.kind == "person":
        return 2.0 + entry.prior + (1.0 if entry.country in ctx.countries else 0.0)
    return 2.5 + entry.core + (1.0 if entry.country and entry.country in ctx.countries else 0.0)


def choose(candidates: list[KBEntry], ctx: Context) -> KBEntry | None:
    """The candidate that scores ``MIN_SCORE`` and beats the next by ``MARGIN``, or None.

    A town, a person or an organisation of one country (other than a core entry) needs its
    country in the context: a legislator's namesake in a tennis report is not the legislator,
    and "United" in a football report is not an Australian chain of fuel stations.
    """
    if not candidates:
        return None
    ranked = sorted(((score(c, ctx), i) for i, c in enumerate(candidates)), reverse=True)
    best_score, best = ranked[0]
    entry = candidates[best]
    if best_score < MIN_SCORE:
        return None
    local = entry.kind in ("town", "person") or (
        entry.kind == "org" and bool(entry.country) and not entry.core)
    if local and entry.country not in ctx.countries:
        return None
    if len(ranked) > 1 and best_score - ranked[1][0] < MARGIN:
        return None
    return entry
