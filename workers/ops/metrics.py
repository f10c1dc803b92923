"""All Prometheus metrics of newsflow, in one place.

Every metric is created against a :class:`~prometheus_client.CollectorRegistry` held by a
:class:`Metrics` object that the application builds once and passes down; tests build their own.
Names follow the Prometheus conventions: one ``newsflow_`` prefix, base units (seconds, bytes),
``_total`` on counters, a unit suffix on everything that has one. Label sets are small and fixed
(stage, outcome, reason, kind, label, topic, partition, and a bounded ``source``: see
:class:`SourceLabels`) and are pre-created at start-up by
:meth:`Metrics.initialise_labels`, so that ``rate()`` has a zero to start from and dashboards show
series before the first event. Never put an article id or a URL in a label.

Histogram buckets come from measured distributions on the development data; the measurements
and the reasoning are in ``docs/observability.md``.

Tagging runs in child processes; the child measures its model time and returns it with the
result, and the parent observes it here. Only the parent process exposes metrics, so
prometheus-client's multiprocess mode is not needed.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Iterable
from importlib import metadata
from typing import Any, Protocol, TypeVar

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Info,
    generate_latest,
)
from prometheus_client import Counter as _Counter
from prometheus_client import Gauge as _Gauge
from prometheus_client import Histogram as _Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from workers import __version__
from workers.records import REJECT_REASONS, REMOVAL_REASONS

__all__ = [
    "DUPLICATE_KINDS",
    "ENTITY_LABELS",
    "NO_SOURCE",
    "OTHER_SOURCE",
    "STAGES",
    "STAGE_OUTCOMES",
    "Metrics",
    "SourceLabels",
]

PREFIX = "newsflow"

# The pipeline's stage names (the `stage` label) and the outcomes each stage can produce.
STAGES: tuple[str, ...] = ("clean", "dedup", "tag", "story")
CPU_TIMED_STAGES: tuple[str, str, str] = ("clean", "dedup", "story")  # the worker unpacks it
STAGE_OUTCOMES: dict[str, tuple[str, ...]] = {
    "clean": ("ok", "deadletter"),
    "dedup": ("unique", "duplicate", "deadletter"),
    "tag": ("ok", "deadletter"),
    # new_story/joined: an article; duplicate: a duplicate notice put in its original's story;
    # unassigned: the decision failed and the article went out without a story_id.
    "story": ("new_story", "joined", "duplicate", "unassigned", "deadletter"),
}
DUPLICATE_KINDS: tuple[str, ...] = ("exact", "near", "redelivery")
# spaCy's OntoNotes NER labels (en_core_web_*): a closed set of 18.
ENTITY_LABELS: tuple[str, ...] = (
    "PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
    "LANGUAGE", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL",
)

# Buckets (seconds unless said otherwise), from the distributions measured on the dev data and
# recorded in docs/observability.md ("Histogram buckets").
# Per-article stage time: dedup p1-p99 0.055-0.72 ms; plain-text cleaning ~0.1-5 ms; HTML
# extraction 0.5 ms (small pages) to 100 ms (large ones); tagging 20-90 ms per article.
STAGE_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
)
# Fetch to enriched: a batch window (0.5 s) plus a batch (up to ~1.5 s for 32 articles) when the
# pipeline keeps up, minutes under lag; the SLO is p99 < 30 s, so 30 s is a boundary.
E2E_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# Articles per tagging batch: powers of two up to twice the default batch size (32).
BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
# Model time per batch: one article 0.02-0.09 s, 32 articles ~1.5 s on one core.
INFERENCE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Articles in a story after each decision: most stories are one article, big events hundreds.
STORY_BUCKETS = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 250.0, 1000.0)
# Event-loop lag: ~0.3 ms on an idle loop, tens of ms under a burst; > 1 s is a blocked loop.
LOOP_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)


# The `source` label of the per-source cleaning metrics: a bounded set (SourceLabels).
OTHER_SOURCE = "other"  # every source beyond the bounded set
NO_SOURCE = "none"  # articles without a source
_SOURCE_LABEL_MAX_CHARS = 80


class CleanHealth(Protocol):
    """What :meth:`Metrics.observe_clean` reads of a ``workers.stages.clean_report.CleanReport``
    (ops does not import the stages)."""

    @property
    def source(self) -> str | None: ...
    @property
    def lines_in(self) -> int: ...
    @property
    def lines_removed(self) -> int: ...
    @property
    def empty_body(self) -> bool: ...
    @property
    def language_mismatch(self) -> bool | None: ...


class SourceLabels:
    """Maps an article's source to a ``source`` label value from a small, fixed-size set.

    The configured sources (``NEWSFLOW_METRICS_CLEAN_SOURCES``) always have their own label; the
    first ``slots`` other sources seen get one too, for the life of the process; every later
    source is ``other`` and an article without a source ``none``. So a worker exports at most
    ``len(configured) + slots + 2`` values whatever the feed sends (a source name never becomes
    an unbounded label). Configure the sources you watch: the first ones seen differ from one
    restart to the next. Thread-safe (HTML articles are cleaned in an executor thread).
    """

    def __init__(self, configured: Iterable[str] = (), slots: int = 20) -> None:
        self.configured = tuple(dict.fromkeys(s.strip() for s in configured if s.strip()))
        self.slots = max(0, slots)
        self._labels: dict[str, str] = {s: s[:_SOURCE_LABEL_MAX_CHARS] for s in self.configured}
        self._taken = 0
        self._lock = threading.Lock()

    def __call__(self, source: str | None) -> str:
        if not source:
            return NO_SOURCE
        label = self._labels.get(source)
        if label is not None:
            return label
        with self._lock:
            label = self._labels.get(source)
            if label is None:
                if self._taken >= self.slots:
                    return OTHER_SOURCE
                label = self._labels[source] = source[:_SOURCE_LABEL_MAX_CHARS]
                self._taken += 1
            return label

    def values(self) -> list[str]:
        """The label values in use, ``other`` and ``none`` included."""
        return [*dict.fromkeys(self._labels.values()), OTHER_SOURCE, NO_SOURCE]


_M = TypeVar("_M", bound="_CachedLabels")


class _CachedLabels:
    """``labels()`` with a lock-free cache of the children already created.

    prometheus-client's ``labels()`` validates names, converts values to ``str`` and takes a
    lock on every call (~0.9 µs, more than the ``inc()`` it precedes); the agents call it
    several times per article and once per entity. Children are never dropped except by
    ``remove``/``clear``, which empty the cache, so a hit always returns the live child.
    Measured in ``workers/tools/bench/metrics_overhead.py``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._label_cache: dict[tuple[Any, ...], Any] = {}

    def labels(self: _M, *labelvalues: Any, **labelkwargs: Any) -> _M:
        key = labelvalues if labelvalues else tuple(labelkwargs.items())
        child = self._label_cache.get(key)
        if child is None:
            child = super().labels(*labelvalues, **labelkwargs)  # type: ignore[misc]
            self._label_cache[key] = child
        return child

    def remove(self, *labelvalues: Any) -> None:
        self._label_cache.clear()
        super().remove(*labelvalues)  # type: ignore[misc]

    def remove_by_labels(self, labels: dict[str, str]) -> None:
        self._label_cache.clear()
        super().remove_by_labels(labels)  # type: ignore[misc]

    def clear(self) -> None:
        self._label_cache.clear()
        super().clear()  # type: ignore[misc]


class Counter(_CachedLabels, _Counter):
    """A prometheus-client Counter with cached ``labels()``."""


class Gauge(_CachedLabels, _Gauge):
    """A prometheus-client Gauge with cached ``labels()``."""


class Histogram(_CachedLabels, _Histogram):
    """A prometheus-client Histogram with cached ``labels()``."""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


class ChildProcessCollector(Collector):
    """CPU and memory of this process's children (the tagging pool), read at scrape time.

    ``process_cpu_seconds_total`` covers only the parent, but most of a worker's CPU is spent
    in the tagging children. When a child is replaced its time leaves the sum, which ``rate()``
    treats as a counter reset.
    """

    def __init__(self, pid: int | None = None) -> None:
        self._process = psutil.Process(pid)

    def describe(self) -> list[Metric]:
        return _child_families(0.0, 0.0)

    def collect(self) -> list[Metric]:
        cpu = rss = 0.0
        try:
            children = self._process.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            try:
                with child.oneshot():
                    times = child.cpu_times()
                    cpu += times.user + times.system
                    rss += child.memory_info().rss
            except psutil.Error:  # exited between listing and reading
                continue
        return _child_families(cpu, rss)


def _child_families(cpu: float, rss: float) -> list[Metric]:
    return [
        CounterMetricFamily(f"{PREFIX}_child_processes_cpu_seconds",
                            "User and system CPU time of the worker's child processes.",
                            value=cpu),
        GaugeMetricFamily(f"{PREFIX}_child_processes_resident_memory_bytes",
                          "Resident memory of the worker's child processes.", value=rss),
    ]


def new_registry() -> CollectorRegistry:
    """A fresh registry with the process, platform, GC and child-process collectors."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(ChildProcessCollector())
    return registry


class Metrics:
    """The worker's metrics, all registered on ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None,
                 sources: SourceLabels | None = None) -> None:
        """``registry``: where to register; default a new one (never the global REGISTRY).
        ``sources``: the bounded ``source`` label set of the cleaning metrics (default: no
        configured sources, the first 20 seen)."""
        self.registry = registry if registry is not None else new_registry()
        self.sources = sources if sources is not None else SourceLabels()
        reg = self.registry
        p = PREFIX

        self.stage_in = Counter(f"{p}_stage_messages_in", "Messages a stage consumed.",
                                ["stage"], registry=reg)
        self.stage_out = Counter(
            f"{p}_stage_messages_out",
            "Messages a stage finished, by outcome (ok, unique, duplicate, deadletter).",
            ["stage", "outcome"], registry=reg)
        self.stage_seconds = Histogram(
            f"{p}_stage_duration_seconds",
            "Processing time per article and stage (tag: the article's share of its batch).",
            ["stage"], buckets=STAGE_BUCKETS, registry=reg)
        self.stage_cpu = Counter(
            f"{p}_stage_cpu_seconds",
            "CPU seconds of the event-loop thread in a stage's whole handler: decode, stage, "
            "encode, sends (clean, dedup, story; the tag stage's handler awaits the tagging "
            "processes, whose time is tag_inference). Read from the thread's CPU clock around "
            "the handler's await: while a handler is suspended, other tasks on the loop count "
            "in it too (the timed handlers collect their sends and await them afterwards, so "
            "they rarely suspend).",
            ["stage"], registry=reg)
        self.e2e_seconds = Histogram(
            f"{p}_end_to_end_latency_seconds",
            "From fetched_at (else the time the worker read it) to the enriched message.",
            buckets=E2E_BUCKETS, registry=reg)
        self.batch_size = Histogram(
            f"{p}_tag_batch_size_articles", "Articles per tagging batch.",
            buckets=BATCH_BUCKETS, registry=reg)
        self.inference_seconds = Histogram(
            f"{p}_tag_inference_seconds",
            "Model time per tagging batch, measured in the child process.",
            buckets=INFERENCE_BUCKETS, registry=reg)
        self.duplicates = Counter(f"{p}_duplicates", "Duplicates found, by kind.",
                                  ["kind"], registry=reg)
        self.deadletters = Counter(f"{p}_deadletters", "Messages dead-lettered, by reason.",
                                   ["stage", "reason"], registry=reg)
        self.lines_removed = Counter(f"{p}_clean_lines_removed",
                                     "Lines the cleaning stage removed, by reason.",
                                     ["reason"], registry=reg)
        # Extraction health per source (bounded `source` label, see SourceLabels): the rates
        # are ratios of these counters (removed/input lines, empty/articles, mismatch/checked).
        self.clean_source_articles = Counter(
            f"{p}_clean_source_articles", "Articles the cleaning stage finished, by source.",
            ["source"], registry=reg)
        self.clean_source_empty = Counter(
            f"{p}_clean_source_empty_articles",
            "Articles with nothing of an article left (empty after cleaning, or the extractor "
            "found no text), by source.", ["source"], registry=reg)
        self.clean_source_lines_in = Counter(
            f"{p}_clean_source_input_lines",
            "Non-empty input lines of cleaned articles, by source.", ["source"], registry=reg)
        self.clean_source_lines_removed = Counter(
            f"{p}_clean_source_removed_lines", "Lines the cleaning stage removed, by source.",
            ["source"], registry=reg)
        self.clean_source_language_checked = Counter(
            f"{p}_clean_source_language_checked_articles",
            "Articles with a declared and a detected language, by source.", ["source"],
            registry=reg)
        self.clean_source_language_mismatch = Counter(
            f"{p}_clean_source_language_mismatch_articles",
            "Articles whose detected language differs from the declared one, by source.",
            ["source"], registry=reg)
        self.entities = Counter(f"{p}_entities", "Entities tagged, by OntoNotes label.",
                                ["label"], registry=reg)
        self.consumer_lag = Gauge(
            f"{p}_consumer_lag_messages",
            "Messages between the consumer position and the high watermark.",
            ["topic", "partition"], registry=reg)
        self.loop_lag = Histogram(
            f"{p}_event_loop_lag_seconds",
            "How late the event loop ran a timer (a blocked loop shows here).",
            buckets=LOOP_BUCKETS, registry=reg)
        self.dedup_entries = Gauge(f"{p}_dedup_index_entries",
                                   "Articles in the dedup index.", registry=reg)
        self.dedup_state_bytes = Gauge(f"{p}_dedup_state_bytes",
                                       "Approximate size of the dedup state.", registry=reg)
        self.tag_workers = Gauge(f"{p}_tag_pool_workers",
                                 "Tagging child processes.", registry=reg)
        self.ready = Gauge(f"{p}_ready",
                           "1 when partitions are assigned and the model is loaded.",
                           registry=reg)
        self.pending_input = Gauge(
            f"{p}_pending_input_messages",
            "Input messages not yet committed (highwater minus committed offset).",
            registry=reg)
        self.input_rereads = Counter(
            f"{p}_input_rereads",
            "Times an idle worker with input waiting re-read it from the committed offsets.",
            registry=reg)
        self.stalled = Gauge(f"{p}_stalled",
                             "1 while input waits and no event is processed (stall timeout).",
                             registry=reg)
        self.stories_open = Gauge(f"{p}_open_stories",
                                  "Live stories held by story clustering.", registry=reg)
        self.story_articles = Histogram(
            f"{p}_story_size_articles",
            "Distinct articles in the story an article (or duplicate) joined, after joining.",
            buckets=STORY_BUCKETS, registry=reg)
        self.build_info = Info(f"{p}_build", "Versions this worker runs.", registry=reg)

    def set_build_info(self, spacy_model: str) -> None:
        """Publish the versions as ``newsflow_build_info{...} 1``."""
        self.build_info.info({
            "version": __version__,
            "python": platform.python_version(),
            "faust": _version("faust-streaming"),
            "aiokafka": _version("aiokafka"),
            "spacy_model": spacy_model,
        })

    def initialise_labels(self) -> None:
        """Create every fixed label combination, so that each series exists from zero."""
        for stage in STAGES:
            self.stage_in.labels(stage=stage)
            self.stage_seconds.labels(stage=stage)
            if stage in CPU_TIMED_STAGES:
                self.stage_cpu.labels(stage=stage)
            for outcome in STAGE_OUTCOMES[stage]:
                self.stage_out.labels(stage=stage, outcome=outcome)
            for reason in REJECT_REASONS:
                self.deadletters.labels(stage=stage, reason=reason)
        for kind in DUPLICATE_KINDS:
            self.duplicates.labels(kind=kind)
        for reason in REMOVAL_REASONS:
            self.lines_removed.labels(reason=reason)
        for label in ENTITY_LABELS:
            self.entities.labels(label=label)
        for source in self.sources.values():
            self._init_source(source)

    def _init_source(self, source: str) -> None:
        for counter in (self.clean_source_articles, self.clean_source_empty,
                        self.clean_source_lines_in, self.clean_source_lines_removed,
                        self.clean_source_language_checked, self.clean_source_language_mismatch):
            counter.labels(source=source)

    def observe_clean(self, report: CleanHealth) -> None:
        """Count one article's extraction health under its (bounded) source label."""
        source = self.sources(report.source)
        self.clean_source_articles.labels(source=source).inc()
        if report.empty_body:
            self.clean_source_empty.labels(source=source).inc()
        if report.lines_in:
            self.clean_source_lines_in.labels(source=source).inc(report.lines_in)
        if report.lines_removed:
            self.clean_source_lines_removed.labels(source=source).inc(report.lines_removed)
        if report.language_mismatch is not None:
            self.clean_source_language_checked.labels(source=source).inc()
            if report.language_mismatch:
                self.clean_source_language_mismatch.labels(source=source).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition of the registry and its content type, for ``/metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
