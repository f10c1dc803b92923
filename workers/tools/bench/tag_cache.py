"""Tagged entities cached between benchmark runs, keyed by what computed them.

Tagging a few thousand articles takes a minute or two, so benchmarks that need the tagging
stage's output (``bench handlers``, ``bench stories``) keep it in a pickle. The file carries the
NER model's and the knowledge base's versions (:func:`workers.stages.entities.tagging_identity`)
and a description of what the value holds (``contents``): a cache written with another model
or KB, or holding something else (an older layout of the same results), is not used.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from workers.stages.entities import tagging_identity


def load(path: Path | None, model: str, contents: str = "") -> Any | None:
    """The cached value, or None when there is none for this model, knowledge base and
    ``contents``."""
    if path is None or not path.is_file():
        return None
    cached = pickle.loads(path.read_bytes())
    if (isinstance(cached, dict) and cached.get("identity") == tagging_identity(model)
            and cached.get("contents", "") == contents):
        return cached["value"]
    return None


def save(path: Path | None, model: str, value: Any, contents: str = "") -> None:
    """Cache ``value`` in ``path`` (nothing when None) with the model's and KB's versions and
    ``contents``."""
    if path is not None:
        path.write_bytes(pickle.dumps({"identity": tagging_identity(model), "contents": contents,
                                       "value": value}))
