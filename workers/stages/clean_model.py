"""The line model of the cleaning stage: logistic regression over the features of
:mod:`workers.stages.clean_features`, weights in ``workers/data/clean_model.json``.

``p(junk) = 1 / (1 + exp(-(bias + sum(weight[name] * value))))``; a line is removed when
``p >= threshold`` and it is not protected (:func:`clean_features.protected`). The JSON file
holds ``{"bias", "threshold", "weights": {feature: weight}, "trained": {...}}``; it is written by
``python -m workers.tools.evaluation.clean_train`` (``newsflow train clean``) and read once by
:func:`LineModel.load`. Features absent from ``weights`` count zero, so a file trained without a
feature family simply ignores it.

:meth:`LineModel.reason` names the audit-trail reason from the strongest evidence family.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from workers.records import RemovalReason

# feature-name prefix -> the reason a removal on that evidence is reported with
_REASON_OF = (
    ("stamp:", "dateline"), ("x:stamp_short", "dateline"), ("credit:", "caption_credit"),
    ("teaser:", "foreign_headline"), ("x:edge_no_overlap", "foreign_headline"),
    ("ctx:edge_headline_rule", "foreign_headline"), ("mem:other_title", "foreign_headline"),
    ("ctx:no_overlap", "foreign_headline"), ("shape:long_unended", "foreign_headline"),
)


def default_model_path() -> Path:
    """The weights shipped with the package."""
    return Path(str(resources.files("workers") / "data" / "clean_model.json"))


@dataclass(frozen=True, slots=True)
class LineModel:
    """A logistic-regression junk scorer over sparse named features."""

    weights: dict[str, float]
    bias: float
    threshold: float = 0.5
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> LineModel:
        data = json.loads((path or default_model_path()).read_text(encoding="utf-8"))
        return cls(weights={str(k): float(v) for k, v in data["weights"].items()},
                   bias=float(data["bias"]), threshold=float(data["threshold"]),
                   info=dict(data.get("trained", {})))

    def to_json(self) -> str:
        return json.dumps({"bias": round(self.bias, 5), "threshold": self.threshold,
                           "weights": {k: round(v, 5) for k, v in sorted(self.weights.items())},
                           "trained": self.info}, indent=1, ensure_ascii=False) + "\n"

    def margin(self, features: dict[str, float]) -> float:
        w = self.weights
        return self.bias + sum(w.get(k, 0.0) * v for k, v in features.items())

    def probability(self, features: dict[str, float]) -> float:
        z = self.margin(features)
        return 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0

    def is_junk(self, features: dict[str, float]) -> bool:
        return self.probability(features) >= self.threshold

    def reason(self, features: dict[str, float], rule_reason: RemovalReason | None
               ) -> RemovalReason:
        """The reason code of a removal: the phrase family's when one matched, else the family
        of the strongest positive evidence (stamp, credit, teaser/headline), else boilerplate."""
        if rule_reason is not None:
            return rule_reason
        best: tuple[float, RemovalReason] = (0.0, "boilerplate")
        for name, value in features.items():
            contrib = self.weights.get(name, 0.0) * value
            if contrib <= best[0]:
                continue
            for prefix, reason in _REASON_OF:
                if name.startswith(prefix):
                    best = (contrib, reason)  # type: ignore[assignment]
                    break
            else:
                if name.startswith(("cta:", "x:cta", "legal:", "rule:", "mem:seen", "shape:")):
                    best = (contrib, "boilerplate")
        return best[1]
