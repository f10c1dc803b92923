"""``newsflow train clean`` (``python -m workers.tools.evaluation.clean_train [FILE] [--out P]``):
fit the cleaning stage's line model and measure how it generalises.

The training lines are the model candidates of each article of a labelled file (format of
../shared/data/cleaning-dev.jsonl), featurised by the very :class:`Cleaner` the pipeline runs,
in file order with one per-source memory (so repetition features are what a stream would see).
A line is junk when it is in the record's ``junk_lines`` (as a multiset).

The model is L2-regularised logistic regression fitted by Newton's method (deterministic: no
random start; the article folds use a fixed seed). The threshold is fixed at 0.5, not tuned.

**Leave-one-kind-out.** Each junk line of the dev file is put in a *kind* by :func:`junk_kind`
(cookie notice, app prompt, copyright, photo credit, ...). For each kind and each of five
article folds, a model is fitted on the other folds WITHOUT that kind's lines and WITHOUT the
phrase families of ``boilerplate.toml`` that describe that kind (their ``rule:*`` features are
dropped), then applied to the held-out fold. Reported per kind: removal precision over all lines
of the file and recall on the kind's lines. This is the estimate of how the model does on junk
phrased in ways it never saw. The kind assignment is evaluation labelling only; the stage never
sees it.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from workers.records import RawArticle
from workers.settings import Settings
from workers.stages.clean import make_cleaner
from workers.stages.clean_features import without_memory
from workers.stages.clean_guards import GUARD, article_sentence, dense_figures, teaser_heading
from workers.stages.clean_model import LineModel, default_model_path

SEED = 13
FOLDS = 5
L2 = 5.0  # strong: weight spreads over correlated cue families, which transfer across kinds
THRESHOLD = 0.5

# kind -> regular expression over a (normalised) junk line; the first match wins. Lines matching
# none are "headline" (short) or "teaser" (a long lead of another story).
KINDS: tuple[tuple[str, str], ...] = (
    ("cookies", r"\bcookies?\b"), ("app", r"\bapp\b"),
    ("copyright", r"copyright|rights reserved|may not be published"),
    ("photo_credit", r"^(image|photo|picture)"), ("continue", r"^continue reading"),
    ("share", r"^share\b"), ("advert", r"^advert"),
    ("newsletter", r"newsletter|opting in|your e-?mail|^sign up"),
    ("subscribe", r"subscri|unlimited access"), ("crumb", r" > "), ("follow", r"^follow\b"),
    ("stamp", r"^(last updated|published|updated|posted)\b"), ("related", r"^read more\b"),
)
# the phrase families (and shape rules) written for each kind: off when the kind is held out
KIND_FAMILIES: dict[str, tuple[str, ...]] = {
    "cookies": ("cookies_privacy",), "app": ("share_follow",), "copyright": ("copyright",),
    "photo_credit": ("photo_credit",), "continue": ("ads_and_prompts",),
    "share": ("share_follow",), "advert": ("ads_and_prompts",), "newsletter": ("newsletter",),
    "subscribe": ("newsletter",), "crumb": ("crumb",), "follow": ("share_follow",),
    "stamp": ("dateline", "byline"), "related": ("related_links", "ads_and_prompts"),
}
_KIND_RE = [(k, re.compile(p, re.IGNORECASE)) for k, p in KINDS]


def junk_kind(line: str) -> str:
    for kind, rx in _KIND_RE:
        if rx.search(line):
            return kind
    return "headline" if len(line.split()) <= 12 else "teaser"


@dataclass
class Dataset:
    """Candidate lines of a labelled file with their features, labels and kinds."""

    features: list[dict[str, float]]
    protected: list[bool]
    junk: list[bool]
    kinds: list[str | None]  # None for article lines
    article: list[int]  # index of the article in the file
    texts: list[str]
    articles: int
    junk_total: Counter[str]  # junk lines of the file that reach the model, by kind
    fixed_hits: int = 0  # junk lines removed before the model (repeats)
    fixed_wrong: int = 0  # article lines removed before the model


def build_dataset(path: Path, settings: Settings) -> Dataset:
    from workers.tools.evaluation.lines import norm_line  # the eval's scoring conventions

    rows = [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]
    cleaner = make_cleaner(settings, memory_store={})
    ds = Dataset([], [], [], [], [], [], len(rows), Counter())
    for n, row in enumerate(rows):
        junk = Counter(norm_line(j) for j in row.get("junk_lines", []) if j.strip())
        raw = RawArticle(id=row["id"], body=row["raw"], title=row.get("title"),
                         source=row.get("source") or "dev")
        fixed, candidates = cleaner.featurise(raw)
        for text in fixed:  # removed before the model (repeats): not training lines
            key = norm_line(text)
            if junk[key] > 0:
                junk[key] -= 1
                ds.fixed_hits += 1
            else:
                ds.fixed_wrong += 1
        for text, feats, safe in candidates:
            key = norm_line(text)
            is_junk = junk[key] > 0
            if is_junk:
                junk[key] -= 1
            ds.features.append(feats)
            ds.protected.append(safe)
            ds.junk.append(is_junk)
            ds.kinds.append(junk_kind(key) if is_junk else None)
            if is_junk:
                ds.junk_total[junk_kind(key)] += 1
            ds.article.append(n)
            ds.texts.append(text)
    cleaner.close()
    return ds


def fit(rows: list[dict[str, float]], labels: list[bool], drop: tuple[str, ...] = ()
        ) -> LineModel:
    """L2 logistic regression by Newton's method; features starting with ``drop`` are left out."""
    names = sorted({k for r in rows for k in r if not k.startswith(drop or ("\0",))})
    col = {k: i for i, k in enumerate(names)}
    x = np.zeros((len(rows), len(names) + 1))
    x[:, -1] = 1.0
    for i, r in enumerate(rows):
        for k, v in r.items():
            if k in col:
                x[i, col[k]] = v
    y = np.asarray(labels, dtype=float)
    w = np.zeros(x.shape[1])
    reg = np.full(x.shape[1], L2)
    reg[-1] = 1e-6
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + reg * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    weights = {k: float(w[i]) for k, i in col.items() if abs(w[i]) > 1e-6}
    return LineModel(weights=weights, bias=float(w[-1]), threshold=THRESHOLD)


def _training_rows(ds: Dataset, idx: list[int]) -> tuple[list[dict[str, float]], list[bool]]:
    """The lines ``idx`` as seen with the source memory and, once more, without it (so that the
    model also decides well on a source's first articles, where repetition cannot help)."""
    idx = [i for i in idx if GUARD not in ds.features[i]]  # kept by the guard, never scored
    rows = [ds.features[i] for i in idx] + [without_memory(ds.features[i]) for i in idx]
    return rows, [ds.junk[i] for i in idx] * 2


def _decide(model: LineModel, text: str, feats: dict[str, float], safe: bool) -> bool:
    """The stage's decision (Cleaner._judge): the edge-headline rule or the model, unless safe."""
    if GUARD in feats:
        return False
    if "ctx:edge_headline_rule" in feats:
        return not (safe and dense_figures(feats))
    if safe:
        return False
    return teaser_heading(text) or (model.is_junk(feats) and not article_sentence(text, feats))


def _folds(n_articles: int) -> list[int]:
    order = np.random.default_rng(SEED).permutation(n_articles)
    fold = [0] * n_articles
    for rank, art in enumerate(order):
        fold[int(art)] = rank % FOLDS
    return fold


def leave_one_kind_out(ds: Dataset) -> dict[str, Any]:
    """Per kind: precision over all lines and recall on the kind, out of fold and out of kind."""
    fold = _folds(ds.articles)
    lines_fold = [fold[a] for a in ds.article]
    per_kind: dict[str, dict[str, float]] = {}
    pooled = Counter[str]()
    for kind in sorted({k for k in ds.kinds if k}):
        drop = tuple(f"rule:{fam}" for fam in KIND_FAMILIES.get(kind, ()))
        removed = correct = hit = 0
        for f in range(FOLDS):
            train = [i for i in range(len(ds.junk)) if lines_fold[i] != f and ds.kinds[i] != kind]
            model = fit(*_training_rows(ds, train), drop)
            for i in (i for i in range(len(ds.junk)) if lines_fold[i] == f):
                if _decide(model, ds.texts[i], {k: v for k, v in ds.features[i].items()
                                   if not k.startswith(drop or ("\0",))}, ds.protected[i]):
                    removed += 1
                    correct += ds.junk[i]
                    hit += ds.kinds[i] == kind
        total = ds.junk_total[kind]
        per_kind[kind] = {"lines": total, "removed": removed,
                          "precision": correct / removed if removed else 1.0,
                          "recall": hit / total if total else 1.0}
        pooled.update({"removed": removed, "correct": correct, "hit": hit, "lines": total})
    return {"kinds": per_kind,
            "precision": pooled["correct"] / pooled["removed"] if pooled["removed"] else 1.0,
            "recall": pooled["hit"] / pooled["lines"] if pooled["lines"] else 1.0}


def train(path: Path, settings: Settings, out: Path | None = None) -> LineModel:
    """Fit on all of ``path`` and write the weights (default: the shipped model file)."""
    ds = build_dataset(path, settings)
    model = fit(*_training_rows(ds, list(range(len(ds.junk)))))
    model.info.update({"file": path.name, "lines": len(ds.junk), "junk_lines": sum(ds.junk),
                       "l2": L2, "seed": SEED,
                       "command": "python -m workers.tools.evaluation.clean_train"})
    target = out or default_model_path()
    target.write_text(model.to_json(), encoding="utf-8")
    print(f"wrote {target}: {len(model.weights)} weights from {len(ds.junk)} lines "
          f"({sum(ds.junk)} junk)")
    return model


if __name__ == "__main__":
    args = sys.argv[1:]
    out_path = Path(args[args.index("--out") + 1]) if "--out" in args else None
    files = [a for a in args if a.endswith(".jsonl")]
    s = Settings()
    train(Path(files[0]) if files else s.shared_data_dir / "cleaning-dev.jsonl", s, out_path)
