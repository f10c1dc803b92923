"""The Research Organization Registry (ROR) extract: organisations with Wikidata ids.

ror-community/ror-records keeps one folder per ROR release (``v1.0`` ... ``v2.9``), each with
one JSON file per record *added or changed* in that release: schema 1 in the ``v1.x`` folders
(and in their ``v1/`` subfolders once schema 2 appeared beside it), schema 2 in the top level
of ``v1.45`` onwards and in every ``v2.x`` folder. The repository is therefore a partial
registry - every record touched since 2022, about 51,000 of ROR's ~120,000; the full dump is
published on Zenodo only. The newest version of each record is read (releases in version
order, schema 2 before schema 1 within a release) and kept when it is ``active`` and names a
Wikidata id. ROR states its data is CC0 1.0; the repository's own licence file is MIT.
"""

from __future__ import annotations

import json
import re
from typing import Any

from workers.tools.kb_mirror import (
    Mirror,
    clean_text,
    english_words,
    is_generic,
    is_latin,
    wikidata_id,
)

ROR = {"repo": "ror-community/ror-records",
       "commit": "d93fc667872f8ef9386896bd6c68bd3c6103603e",
       "licence": "CC0-1.0 (ROR data, as ROR states; the repository's licence file is MIT, "
                  "Copyright (c) 2022 ROR); a partial registry: records added or changed in "
                  "releases v1.0-v2.9",
       "generic_words": "en_core_web_sm 3.8.0 lemmatizer lemma_index (noun, verb, adj, adv)"}

# "British Broadcasting Corporation (United Kingdom)", "Ministry of Health (Kenya)": ROR's
# display names may end in a qualifier; the name news uses is without it.
_QUALIFIER = re.compile(r"\s*\([^()]*\)$")
_THE = re.compile(r"^the\s+", re.IGNORECASE)


# "United States Food and Drug Administration": news writes "the Food and Drug Administration".
_US_PREFIX = re.compile(r"^(?:United States|U\.S\.|US) (?=[A-Z]\S* \S)")


def _release(path: str) -> tuple[int, ...]:
    """``v1.17.1/...`` -> (1, 17, 1)."""
    return tuple(int(part) for part in path.split("/")[0][1:].split("."))


def _names(value: str) -> str:
    return _QUALIFIER.sub("", clean_text(value))


def _record(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 or 2 -> status, QID, English/display names, aliases, acronyms, country, types."""
    if "names" in data:  # schema 2
        names = data["names"]
        wikidata: dict[str, Any] = next(
            (e for e in data.get("external_ids", []) if e.get("type") == "wikidata"), {})
        location = (data.get("locations") or [{}])[0].get("geonames_details") or {}
        display = [n["value"] for n in names if "ror_display" in n["types"]]
        english = [n["value"] for n in names if "label" in n["types"] and n.get("lang") == "en"]
        return {"status": data.get("status"),
                "qid": wikidata_id(wikidata.get("preferred") or (wikidata.get("all") or [""])[0]),
                "names": english + display,
                "aliases": [n["value"] for n in names if "alias" in n["types"]]
                + [n["value"] for n in names if "label" in n["types"]],
                "acronyms": [n["value"] for n in names if "acronym" in n["types"]],
                "country": location.get("country_code") or "",
                "types": [t.lower() for t in data.get("types", [])]}
    wikidata = (data.get("external_ids") or {}).get("Wikidata") or {}  # schema 1
    labels = data.get("labels") or []
    return {"status": data.get("status"),
            "qid": wikidata_id(wikidata.get("preferred") or (wikidata.get("all") or [""])[0]),
            "names": [lb["label"] for lb in labels if lb.get("iso639") == "en"]
            + [data.get("name") or ""],
            "aliases": list(data.get("aliases") or []) + [lb["label"] for lb in labels],
            "acronyms": list(data.get("acronyms") or []),
            "country": (data.get("country") or {}).get("country_code") or "",
            "types": [t.lower() for t in data.get("types", [])]}


def ror(mirror: Mirror, files: list[str]) -> dict[str, list[list[str]]]:
    """Active ROR organisations with a Wikidata id: QID, name (English label, else ROR's
    display name without a "(Country)" qualifier), other names (Latin script; a US agency's name
    also without "United States"/"U.S."), the acronyms,
    the country (ISO 3166-1 alpha-2), ROR's types, and which names or acronyms are one English
    word (as for the name-suggestion-index, and an acronym of four letters or more that spells
    one: "CHORUS"). A QID that several active records claim (15: a unit given its parent's
    QID, one school's campuses in four countries) is left out."""
    words = english_words()
    commit = str(ROR["commit"])
    paths = [p for p in mirror.ls(commit, ".") if p.startswith("v") and p.endswith(".json")]
    # Newest release first; in a release the schema-2 file before its ``v1/`` copy.
    paths.sort(key=lambda p: (_release(p), "/v1/" not in p), reverse=True)
    newest: dict[str, str] = {}
    for path in paths:
        newest.setdefault(path.rsplit("/", 1)[1], path)
    files += sorted({f"{commit}:{p.rsplit('/', 1)[0]}/" for p in newest.values()},
                    key=lambda f: _release(f.split(":", 1)[1]))
    chosen = sorted(newest.values())
    by_qid: dict[str, list[dict[str, Any]]] = {}
    for blob in mirror.show_many(commit, chosen):
        record = _record(json.loads(blob))
        if record["status"] == "active" and record["qid"]:
            by_qid.setdefault(record["qid"], []).append(record)
    rows = []
    for qid, records in by_qid.items():
        if len(records) > 1:  # a unit and its parent, or two namesakes: the QID is unclear
            continue
        record = records[0]
        names = [_names(n) for n in record["names"] + record["aliases"]]
        names += [_US_PREFIX.sub("", n) for n in names if _US_PREFIX.match(n)]
        names = [n for n in dict.fromkeys(names) if len(n) > 1 and is_latin(n)]
        acronyms = [a for a in dict.fromkeys(clean_text(a) for a in record["acronyms"])
                    if len(a) > 1 and is_latin(a) and a not in names]
        if not names:
            continue
        # "CHORUS" is an acronym to ``is_generic``, but from four letters an acronym matches in
        # title case too (``workers.kb``: "Nato"), so there it is the word "Chorus".
        # "The Royal", "The Way" are looked up without their article: one word too.
        generic = sorted(n for n in [*names, *acronyms] if is_generic(_THE.sub("", n), words) or (
            4 <= len(n) <= 6 and n.isalpha() and n.isupper() and n.lower() in words))
        rows.append([qid, names[0], "|".join(sorted(names[1:])), "|".join(sorted(acronyms)),
                     record["country"], "|".join(sorted(set(record["types"]))),
                     "|".join(generic)])
    return {"ror": rows}
