"""The Faust application: wires the pure stages (via ``workers.stream.agents.Handlers``) to topics.

Nothing here cleans, deduplicates or tags; it declares topics, the dedup state table, the three
agents, the timers (broker probe, consumer lag, progress) and the state behind the HTTP endpoints
that ``workers.ops.health`` serves. Build it with :func:`create_app` from a
:class:`~workers.settings.Settings`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any

import faust
import faust.streams as faust_streams
from faust.types import TP

from workers import __version__
from workers.codec import Codec
from workers.kafka.io import MAX_REQUEST_BYTES, broker_reachable, ssl_context
from workers.kb import KnowledgeBase
from workers.ops.health import liveness, register_endpoints
from workers.ops.loopmon import EventLoopMonitor, running_loop
from workers.ops.metrics import CPU_TIMED_STAGES, Metrics, SourceLabels
from workers.settings import Settings
from workers.stages.clean import make_cleaner
from workers.stages.dedup import make_deduplicator
from workers.stages.entities import model_identity
from workers.stages.stories import make_story_clusterer
from workers.stream import consumer_view
from workers.stream.agents import Handlers, Sink, Source, TagPoolLike
from workers.stream.batches import take_batches
from workers.stream.buffered import BufferedTable
from workers.stream.faustfix import guard_commits, serialise_seeks
from workers.stream.progress import ProgressWatchdog
from workers.stream.shutdown import ShutdownWatchdog
from workers.stream.stories import StoryHandler
from workers.stream.verdicts import VerdictState

log = logging.getLogger("newsflow.app")

# Per agent task: delivery futures of the messages the current event (or batch) produced.
_UNDELIVERED: ContextVar[list[Awaitable[Any]] | None] = ContextVar("undelivered", default=None)

BROKER_PROBE_SECONDS = 1.0  # how often /health/ready's broker check runs
PROGRESS_CHECK_SECONDS = 5.0  # how often the progress watchdog compares input and progress
# A worker that dies without leaving the group (kill -9, lost host) holds its partitions until
# the broker misses its heartbeats for this long; Faust's 60 s default stalls fail-over.
SESSION_TIMEOUT_SECONDS = 10.0
# Unprocessed messages an agent's stream may hold before Faust pauses fetching (Faust's
# default): with articles of a few KB, some 10-20 MB per stream. Not lower: a full buffer
# while tables recover can stall recovery (faust-streaming issue #74; docs/reliability.md).
STREAM_BUFFER_MAXSIZE = 4096


def _broker_credentials(settings: Settings) -> Any:
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL"):
        mechanism = settings.kafka_sasl_mechanism
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            ssl_context=ssl_context(settings),
            mechanism=mechanism,
        )
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    return None


class Newsflow:
    """One worker's Faust app, its stages and its health state."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        tag_pool: TagPoolLike | None = None,
        sink: Sink | None = None,
        dedup_state: MutableMapping[str, bytes] | None = None,
        story_state: tuple[MutableMapping[str, bytes], ...] | None = None,
        clean_state: MutableMapping[str, bytes] | None = None,
    ) -> None:
        """``sink``, ``dedup_state`` and ``story_state`` (stories, articles, parked duplicate
        notices) and ``clean_state`` replace the Kafka topics and the Faust tables in the agent
        tests (Faust's ``test_context()`` has no broker)."""
        self.settings = settings
        self.metrics = metrics or Metrics(sources=SourceLabels(
            settings.metrics_clean_sources.split(","), settings.metrics_clean_source_slots))
        self.codec = Codec(
            settings.schemas_dir,
            max_message_bytes=settings.max_message_bytes,
            deadletter_keep_bytes=settings.deadletter_keep_bytes,
        )
        self._clean_table: MutableMapping[str, bytes] | None = clean_state
        self.clean_memory: BufferedTable | None = None
        self.extractor_problem: str | None = None  # set at start-up (workers/stages/clean_html.py)
        self.deduplicator = make_deduplicator(settings)
        self._tag_pool = tag_pool
        self._pool_ready = asyncio.Event() if tag_pool is None else None
        self.assigned = False
        self.model_ready = tag_pool is not None
        self.broker_up = sink is not None  # probed by a timer; agent tests have no broker
        self.watchdog = ShutdownWatchdog(settings.shutdown_timeout)
        self._dedup_dirty = True
        self.loop_monitor = EventLoopMonitor(self.metrics)
        self.progress = ProgressWatchdog(settings.stall_timeout)
        # Read at scrape time, not set per article.
        self.metrics.dedup_entries.set_function(lambda: self.deduplicator.entries)
        self.metrics.dedup_state_bytes.set_function(lambda: self.deduplicator.state_bytes)
        self.html_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="html")

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            settings.app_id,
            version=1,
            broker=[f"kafka://{h.strip()}" for h in settings.bootstrap_servers.split(",")],
            broker_credentials=_broker_credentials(settings),
            store=settings.store,
            datadir=str(settings.data_dir),
            processing_guarantee=settings.processing_guarantee,
            broker_commit_interval=settings.commit_interval,
            broker_commit_every=settings.commit_every,
            key_serializer="raw",
            value_serializer="raw",
            topic_partitions=settings.partitions_raw,
            topic_replication_factor=settings.replication_factor,
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=SESSION_TIMEOUT_SECONDS,
            broker_heartbeat_interval=SESSION_TIMEOUT_SECONDS / 4,
            stream_buffer_maxsize=STREAM_BUFFER_MAXSIZE,
            producer_max_request_size=MAX_REQUEST_BYTES,
            producer_max_batch_size=settings.producer_batch_bytes,
            producer_linger=settings.producer_linger,
            consumer_max_fetch_size=MAX_REQUEST_BYTES,
            web_enabled=True,
            web_port=settings.web_port,
            web_bind=settings.web_host,
            web_in_thread=False,
            worker_redirect_stdouts=False,
            logging_config=None,
        )
        self.topics = {
            key: self.app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=settings.topic_partitions()[name],
            )
            for key, name in settings.topic_names().items()
        }
        # Durable dedup state; its changelog topic restores it after a restart or rebalance.
        # The cleaning stage's per-source memory of recent lines and titles (clean_memory.py).
        if settings.clean_source_memory:
            if self._clean_table is None:
                self._clean_table = self.app.Table(
                    "clean-memory",
                    partitions=settings.partitions_raw,
                    key_type=str,
                    value_type=bytes,
                )
            self.clean_memory = BufferedTable(self._clean_table)
        self.cleaner = make_cleaner(settings, memory_store=self.clean_memory)
        self.dedup_table = self.app.Table(
            "dedup-state",
            partitions=settings.partitions_cleaned,
            key_type=str,
            value_type=bytes,  # str keys go as JSON, bytes values raw (Faust picks by type)
        )
        # The dedup state with each entry's first verdict (replays re-emit it, see verdicts.py).
        self.verdicts = VerdictState(dedup_state if dedup_state is not None else self.dedup_table)
        # Story clustering's state, restored from the changelogs like the dedup state.
        stories, articles, parked = story_state or tuple(
            self.app.Table(
                name, partitions=settings.partitions_tagged, key_type=str, value_type=bytes
            )
            for name in ("story-stories", "story-articles", "story-parked")
        )
        self.clusterer = make_story_clusterer(settings, stories, articles)
        self._stories_dirty = True
        self.metrics.stories_open.set_function(lambda: len(self.clusterer))
        self.handlers = Handlers(
            codec=self.codec,
            metrics=self.metrics,
            sink=sink or self._send,
            cleaner=self.cleaner,
            deduplicator=self.deduplicator,
            tag_pool=self,
            executor=self.html_executor,
            html_timeout=settings.html_timeout,
            verdicts=self.verdicts,
            provenance=provenance(settings),
        )
        self.story_handler = StoryHandler(
            codec=self.codec,
            metrics=self.metrics,
            sink=sink or self._send,
            clusterer=self.clusterer,
            parked=parked,
            dead_letter=self.handlers.dead_letter,
        )
        self._wire()

    # --- sending ---------------------------------------------------------------------------
    async def _send(self, topic_key: str, key: bytes, value: bytes) -> None:
        # Published now, not attached to the event: Faust publishes an attached message when
        # the offset of the event current at send time is committed, and in a tagging batch that
        # event's partition is not the one every article came from; a rebalance between the
        # commits lost articles. The agent awaits delivery before the event is acknowledged.
        fut = await self.topics[topic_key].send(key=key, value=value, force=True)
        pending = _UNDELIVERED.get()
        if pending is None:
            await fut
        else:
            pending.append(fut)

    async def _delivered(self, flush: bool = False) -> None:
        """Wait until the current event's outputs (and, with ``flush``, the table's changelog
        records) are on the broker; only then may its offset be committed. A failed delivery
        stops the worker: acknowledging the event would lose it."""
        pending = _UNDELIVERED.get() or []
        try:
            await asyncio.gather(*pending)
            if flush:
                await self.app.producer.flush()
        except Exception as exc:
            log.critical("could not deliver outputs (%s); stopping the worker", exc)
            await self.app.crash(exc)
            raise
        finally:
            pending.clear()

    # TagPoolLike, so that the handlers wait for the pool being warm.
    async def tag(self, articles):
        if self._pool_ready is not None:
            await self._pool_ready.wait()
        assert self._tag_pool is not None
        return await self._tag_pool.tag(articles)

    # --- wiring ----------------------------------------------------------------------------
    def _wire(self) -> None:
        app, handlers, s = self.app, self.handlers, self.settings
        # CPU of the event-loop thread in each whole handler; the stages' wall time
        # (stage_seconds) also counts the time the thread waits for a core.
        clean_cpu, dedup_cpu, story_cpu = (
            self.metrics.stage_cpu.labels(stage=stage) for stage in CPU_TIMED_STAGES)

        # clean, dedup and story handle their events one by one, in order, each as Faust's
        # current event (table writes go to its partition's changelog), and wait for delivery
        # once per batch of up to stage_batch_size events: the events are acknowledged only
        # after that, so a crash replays the whole batch, as it replayed one event before.
        batch = (s.stage_batch_size, s.stage_batch_window)

        @app.agent(self.topics["raw"], name="clean")
        async def clean(stream):
            _UNDELIVERED.set([])
            async for events in take_batches(stream, *batch):
                self.progress.begin("clean")
                for event in events:
                    _make_current(event)
                    cpu = time.thread_time()
                    await handlers.on_raw(event.value, _source(event))
                    clean_cpu.inc(time.thread_time() - cpu)
                    if self.clean_memory is not None:
                        self.clean_memory.flush()  # in this event: its changelog partition
                await self._delivered()
                self.progress.processed(len(events), agent="clean")

        @app.agent(self.topics["cleaned"], name="dedup")
        async def dedup(stream):
            _UNDELIVERED.set([])
            last_expiry = time.monotonic()
            async for events in take_batches(stream, *batch):
                self.progress.begin("dedup")
                marks = []
                for event in events:
                    if self._dedup_dirty:  # a rebalance, before this event as before a batch
                        entries = self.deduplicator.bind_state(self.verdicts)
                        self._dedup_dirty = False
                        log.info("dedup index rebuilt from the state table: %d entries",
                                 entries)
                    _make_current(event)
                    cpu = time.thread_time()
                    await handlers.on_cleaned(event.value, _source(event))
                    dedup_cpu.inc(time.thread_time() - cpu)
                    marks.append((event, handlers.take_marks()))
                if time.monotonic() - last_expiry > 60.0:
                    last_expiry = time.monotonic()
                    self._expire_dedup(events[-1])
                # The state entries (with their verdicts) are durable before the offsets can
                # commit.
                await self._delivered(flush=True)
                # Only now: a replay that finds the mark does not send the outputs again.
                for event, held in marks:
                    _make_current(event)
                    handlers.mark_forwarded(held)
                self.progress.processed(len(events), agent="dedup")

        # tag_in_flight actors share the topic's queue; each acknowledges its own batch once its
        # outputs are delivered. Batches finish out of order: faustfix.guard_commits keeps the
        # commit below any batch still in flight (docs/reliability.md).
        @app.agent(self.topics["unique"], name="tag", concurrency=tag_in_flight(s))
        async def tag(stream):
            _UNDELIVERED.set([])
            name = "tag" if tag_in_flight(s) == 1 else f"tag{stream.concurrency_index or 0}"
            async for events in take_batches(stream, s.tag_batch_size, s.tag_batch_window):
                self.progress.begin(name)
                await handlers.on_unique_batch([(e.value, _source(e)) for e in events])
                await self._delivered()
                self.progress.processed(len(events), agent=name)

        @app.agent(self.topics["tagged"], name="story")
        async def story(stream):
            _UNDELIVERED.set([])
            last_expiry = time.monotonic()
            async for events in take_batches(stream, *batch):
                self.progress.begin("story")
                for event in events:
                    if self._stories_dirty:  # a rebalance, before this event as before a batch
                        self.clusterer.rebuild()
                        self._stories_dirty = False
                        log.info("stories rebuilt from the state tables: %d live",
                                 len(self.clusterer))
                    _make_current(event)
                    cpu = time.thread_time()
                    await self.story_handler.on_tagged(event.value, _source(event))
                    story_cpu.inc(time.thread_time() - cpu)
                if time.monotonic() - last_expiry > 60.0:
                    last_expiry = time.monotonic()
                    self._expire_stories()
                await self._delivered(flush=True)
                self.progress.processed(len(events), agent="story")

        self.agents = {"clean": clean, "dedup": dedup, "tag": tag, "story": story}

        register_endpoints(
            app,
            self.metrics,
            live=lambda: liveness(
                self.loop_monitor,
                progress_stalled=self.progress.stalled,
                pending_input=self.progress.pending,
                broker_reachable=self.broker_up,
            ),
            ready=self.readiness,
        )

        @app.task
        async def start_pool() -> None:
            log.info("event loop: %s", await running_loop())
            await self._start_pool()

        @app.task
        async def loop_monitor() -> None:
            await self.loop_monitor.run()

        @app.timer(BROKER_PROBE_SECONDS)
        async def broker_probe() -> None:
            self.broker_up = await broker_reachable(s, timeout=BROKER_PROBE_SECONDS)
            self.metrics.ready.set(1 if self.readiness()["ready"] else 0)

        @app.timer(5.0)
        async def consumer_lag() -> None:
            await self._update_lag()

        @app.timer(PROGRESS_CHECK_SECONDS)
        async def progress_check() -> None:
            await self._check_progress()

        @app.on_partitions_assigned.connect  # type: ignore[arg-type]
        async def on_assigned(app, assigned, **kwargs):
            self.assigned = True
            self.progress.reset()
            self._dedup_dirty = True
            self._stories_dirty = True
            self.metrics.ready.set(1 if self.readiness()["ready"] else 0)

        @app.on_partitions_revoked.connect  # type: ignore[arg-type]
        async def on_revoked(app, revoked, **kwargs):
            # Faust sends this at every join, the first included (with nothing revoked), so
            # before any table recovery seeks.
            self._patch_consumer()
            self._dedup_dirty = True
            self._stories_dirty = True
            self.progress.reset()

        @app.on_before_shutdown.connect  # type: ignore[arg-type]
        async def on_shutdown(app, **kwargs):
            self.watchdog.start()  # a shutdown that hangs is cut off after shutdown_timeout
            self.metrics.ready.set(0)
            self.close_pool()

    def _patch_consumer(self) -> None:
        if serialise_seeks(self.app.consumer):
            log.info("Faust consumer seeks run with the flow stopped (workers/stream/faustfix.py)")
        if guard_commits(self.app.consumer):
            log.info("Faust commits stay below records in flight (workers/stream/faustfix.py)")

    def _input_topics(self) -> list[str]:
        s = self.settings
        return [s.topic_raw, s.topic_cleaned, s.topic_unique, s.topic_tagged]

    async def _check_progress(self) -> None:
        if not self.assigned or getattr(self.app, "in_recovery", False):
            self.progress.reset()
            return
        tps = consumer_view.input_partitions(self.app, self._input_topics())
        pending = consumer_view.pending_input(self.app, tps)
        self.metrics.pending_input.set(pending)
        if not self.broker_up:
            # Nothing can be fetched, delivered or committed while the broker is away: waiting
            # input is not the worker's fault, and a restart would not help. Not ready (the
            # broker probe), still live; the idle clock starts again when the broker answers.
            self.progress.broker_away(pending)
            self.metrics.stalled.set(0)
            return
        entered = self.progress.check(pending)
        self.metrics.stalled.set(1 if self.progress.stalled else 0)
        if self.progress.should_heal():
            await self._reread_waiting_input(tps, pending)
        if entered:
            log.error(
                "no progress for %.0f s with %d input messages waiting; /health/live now fails. "
                "Consumer state: %s",
                self.progress.stalled_seconds(),
                pending,
                await self._diagnosis(tps),
            )

    async def _diagnosis(self, tps: set[TP]) -> dict[str, Any]:
        """The consumer's state with the agents' progress, for the watchdog's log lines."""
        state = await consumer_view.consumer_state(self.app, tps)
        state["events_processed"] = self.progress.events
        state["agents_busy_seconds"] = self.progress.busy_seconds()
        return state

    async def _reread_waiting_input(self, tps: set[TP], pending: int) -> None:
        """Every agent idle, input waiting: Faust fetched it and lost it on the way to the
        streams (its fetch loop drops records below a stale read offset after a rebalance,
        docs/reliability.md). Seek back to the committed offsets, as a restart would."""
        log.warning(
            "%d input messages wait and every agent has been idle for %.0f s; re-reading from "
            "the committed offsets. Consumer state: %s",
            pending,
            self.progress.stalled_seconds(),
            await self._diagnosis(tps),
        )
        self.metrics.input_rereads.inc()
        await self.app.consumer.perform_seek()

    def _expire_dedup(self, event: Any) -> None:
        try:
            dropped = self.deduplicator.expire(self.deduplicator.newest_event_time)
        except Exception:
            log.exception("dedup expiry failed; will retry")
            return
        if dropped:
            log.info("dedup: %d entries expired", dropped)

    def _expire_stories(self) -> None:
        newest = self.story_handler.newest_time
        if newest is None:
            return
        try:
            dropped = self.story_handler.expire(newest)
        except Exception:
            log.exception("story expiry failed; will retry")
            return
        if dropped:
            log.info("stories: %d cold stories expired", dropped)

    async def _start_pool(self) -> None:
        # An HTML extractor that cannot start (a missing module) makes the worker not ready;
        # its HTML articles are dead-lettered extraction_failed, never sent on empty.
        loop = asyncio.get_running_loop()
        self.extractor_problem = await loop.run_in_executor(
            self.html_executor, self.cleaner.readiness_problem
        )
        if self.extractor_problem is not None:
            log.error("%s; /health/ready fails until it is fixed", self.extractor_problem)
        self.metrics.set_build_info(self.settings.spacy_model)
        self.metrics.initialise_labels()
        if self._tag_pool is None:
            from workers.stream.tagpool import TagPool

            started = time.perf_counter()
            pool = TagPool(self.settings)
            await pool.warm_up()
            self._tag_pool = pool
            log.info(
                "tagging pool ready: %d processes, model %s, %.1f s",
                self.settings.tag_workers,
                self.settings.spacy_model,
                time.perf_counter() - started,
            )
            self.metrics.tag_workers.set(self.settings.tag_workers)
        self.model_ready = True
        if self._pool_ready is not None:
            self._pool_ready.set()
        self.metrics.ready.set(1 if self.readiness()["ready"] else 0)

    def close_pool(self) -> None:
        pool = self._tag_pool
        if pool is not None and hasattr(pool, "close"):
            pool.close()
        self.html_executor.shutdown(wait=False, cancel_futures=True)

    def readiness(self) -> dict[str, Any]:
        started = self.app.producer and self.assigned  # else Faust has no consumer to ask yet
        assignment = consumer_view.active_assignment(self.app) if started else set()
        return {
            "ready": bool(
                self.assigned
                and self.model_ready
                and self.broker_up
                and self.extractor_problem is None
            ),
            "html_extractor": self.extractor_problem or "ok",
            "broker_reachable": self.broker_up,
            # Reported, not part of "ready": Faust restores tables from their changelogs after
            # every rebalance, briefly; the progress watchdog catches one that never ends.
            "recovering_tables": bool(getattr(self.app, "in_recovery", False)),
            "partitions_assigned": self.assigned,
            "model_loaded": self.model_ready,
            "assigned_partitions": len(assignment),
            "version": __version__,
        }

    async def _update_lag(self) -> None:
        topics = self.settings.topic_names().values()
        for tp, lag in await consumer_view.partition_lags(self.app, topics):
            self.metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)


def _make_current(event: Any) -> None:
    """Make ``event`` Faust's current event in this task, as ``stream.events()`` does for the
    event it yields: a table write goes to the changelog partition of the current event's
    partition. Only the context variable, not ``Stream.current_event``: the stream's passive
    drainer reads that attribute to fill the next batch while this one is handled."""
    faust_streams._current_event.set(weakref.ref(event))


def _source(event: Any) -> Source:
    message = event.message
    return Source(
        str(message.topic),
        message.partition or 0,
        max(0, message.offset or 0),
        message.key,
        message.timestamp or None,
    )


def tag_in_flight(settings: Settings) -> int:
    """Tagging batches in flight (the tag agent's concurrency)."""
    return settings.tag_in_flight or max(1, settings.tag_workers) + 1


def provenance(settings: Settings) -> dict[str, Any]:
    """What every enriched record says it was made with, so that articles can be re-enriched
    when the NER model or the knowledge base changes."""
    name, version = model_identity(settings.spacy_model)
    return {
        "ner_model": {"name": name, "version": version},
        "kb_version": KnowledgeBase.file_version(),
    }


def create_app(settings: Settings, **kwargs: Any) -> Newsflow:
    """Build the worker's app; stages and validators are built here, once."""
    return Newsflow(settings, **kwargs)


__all__ = ["TP", "Newsflow", "create_app"]
