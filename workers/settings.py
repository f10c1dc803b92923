"""The one settings object of newsflow.

Every field is read from an environment variable ``NEWSFLOW_<FIELD>`` (upper case), except the
broker address, which also honours the conventional ``KAFKA_BOOTSTRAP_SERVERS``. Settings are
built at the edge (``Settings()`` in the CLI, or explicitly in tests) and passed down; nothing in
the package reads the environment at import time.

The README's configuration table is generated from this class (``newsflow config --markdown``),
so the descriptions here are the documentation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class Settings(BaseSettings):
    """Runtime configuration; frozen once built."""

    model_config = SettingsConfigDict(env_prefix="NEWSFLOW_", frozen=True, extra="ignore")

    # --- Kafka -----------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS"
        ),
        description="Broker address list (host:port,...). Unset: the local broker that "
        "`newsflow kafka up` starts on 127.0.0.1:`kafka_port`.",
    )
    kafka_port: int = Field(19092, description="Port of the local broker (`newsflow kafka up`).")
    kafka_controller_port: int = Field(
        19093, description="KRaft controller port of the local broker."
    )
    kafka_version: str = Field(
        "4.1.1", description="Apache Kafka version the local broker is resolved at (Maven Central)."
    )
    kafka_home: Path = Field(
        Path.home() / ".cache" / "newsflow" / "kafka",
        description="Cache folder for the local broker's jars, config, logs and data.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Security protocol for the broker connection."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: str | None = Field(None, description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle (PEM) that verifies the brokers' TLS certificates."
    )

    # --- Topics ----------------------------------------------------------------------------
    app_id: str = Field("newsflow", description="Faust application id (consumer group).")
    topic_raw: str = Field("articles.raw", description="Input topic: raw scraped articles.")
    topic_cleaned: str = Field("articles.cleaned", description="Cleaned articles.")
    topic_unique: str = Field("articles.unique", description="Articles that passed dedup.")
    topic_duplicates: str = Field("articles.duplicates", description="Duplicate notices.")
    topic_tagged: str = Field(
        "articles.tagged",
        description="Tagged articles and duplicate notices on their way to story clustering.",
    )
    topic_enriched: str = Field("articles.enriched", description="Final enriched articles.")
    topic_stories: str = Field(
        "articles.stories",
        description="Story updates, keyed by story_id (compacted: the latest state per story).",
    )
    topic_deadletter: str = Field(
        "articles.deadletter", description="What could not be processed, with a reason."
    )
    partitions_raw: int = Field(4, description="Partitions of the raw topic (clean scales by it).")
    partitions_cleaned: int = Field(
        1,
        description="Partitions of the cleaned topic. Dedup keeps one global index, so this is 1 "
        "by design (see docs/dedup.md).",
    )
    partitions_unique: int = Field(
        4, description="Partitions of the unique topic (tagging scales by it)."
    )
    partitions_tagged: int = Field(
        1,
        description="Partitions of the tagged topic. Story clustering keeps one global set of "
        "live stories, so this is 1 by design, like the cleaned topic (docs/stories.md).",
    )
    partitions_outputs: int = Field(
        4, description="Partitions of the enriched, duplicates, stories and dead-letter topics."
    )
    replication_factor: int = Field(1, description="Replication factor of created topics.")
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="Faust processing guarantee. at_least_once (with identical repeats keyed by "
        "article id) is the supported one; Faust's exactly_once deadlocks on this pipeline's "
        "repartitioning topology (docs/reliability.md).",
    )

    commit_interval: float = Field(
        0.5,
        description="Seconds between offset commits (Faust's broker_commit_interval; its default "
        "is 2.8). What was processed since the last commit is processed again after a kill -9, "
        "so this bounds the repeats a crash causes (docs/reliability.md).",
    )
    commit_every: int = Field(
        50,
        description="Also commit once this many messages were acknowledged since the last "
        "commit, across the worker's agents (Faust's broker_commit_every; its default is "
        "10,000): bounds the repeats when messages are processed fast (clean, dedup).",
    )

    stage_batch_size: int = Field(
        32,
        ge=1,
        description="Most events the clean, dedup and story agents handle one after another "
        "before they wait once for all their outputs (and, for dedup and story, their state "
        "changelogs) to be on the broker; only then are the events acknowledged. 1 waits after "
        "every event: a produce round trip per event and per agent (BENCHMARKS.md).",
    )
    stage_batch_window: float = Field(
        0.05,
        gt=0,
        description="Most seconds such an agent waits for stage_batch_size events before it "
        "handles what it has (the added latency per agent when traffic is light). Each batch "
        "costs a produce round trip and a fetch whatever its size, so at 45 articles/s 0.05 "
        "takes ~3 ms less worker and broker CPU per article than 0.01, for ~0.13 s more latency "
        "(BENCHMARKS.md, \"What a paced article costs\").",
    )

    producer_batch_bytes: int = Field(
        262_144,
        ge=1024,
        le=1_048_576,
        description="Largest record batch the worker's producer builds per partition, in bytes "
        "(Faust's producer_max_batch_size, Kafka's batch.size). One produce request carries "
        "one batch per partition, so at Faust's default (16,384) a tagging batch's enriched "
        "articles (5-15 KB each) need a dozen requests in a row; larger batches mean fewer "
        "requests for the broker and the worker (BENCHMARKS.md). At most 1 MiB: brokers "
        "reject batches above message.max.bytes (1 MiB by default) on the changelog topics "
        "Faust creates. Faust's own PRODUCER_MAX_BATCH_SIZE variable, if set, wins.",
    )
    producer_linger: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="Seconds the worker's producer waits to fill a batch before sending it "
        "(Faust's producer_linger, Kafka's linger.ms). An agent's outputs and changelog "
        "records then go in one produce request instead of one each: ~1 ms less worker and "
        "broker CPU per article under paced traffic, for at most this much more latency per "
        "hop (agents wait for delivery once per batch). Faust's PRODUCER_LINGER, if set, wins.",
    )

    # --- Worker ----------------------------------------------------------------------------
    store: str = Field(
        "memory://", description="Faust table store: memory:// (tests, demo) or rocksdb://."
    )
    data_dir: Path = Field(
        Path("var") / "newsflow", description="Worker state folder (RocksDB tables, etc.)."
    )
    web_port: int = Field(6066, description="HTTP port of /metrics, /health/live, /health/ready.")
    web_host: str = Field("127.0.0.1", description="Bind address of the HTTP endpoints.")
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="Event loop of the worker: uvloop (libuv; less CPU per message in Faust and "
        "the Kafka clients) or the standard library's asyncio.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
    library_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING",
        description="Log level of Faust, mode and aiokafka (chatty at INFO; raise to diagnose "
        "rebalances and table recovery).",
    )
    log_format: Literal["console", "json"] = Field(
        "console", description="Log format: console (human) or json (one object per line)."
    )
    max_message_bytes: int = Field(
        1024 * 1024, description="Raw messages larger than this go to dead letters (too_large)."
    )
    deadletter_keep_bytes: int = Field(
        64 * 1024, description="How much of an oversized message a dead letter keeps."
    )
    shutdown_timeout: float = Field(
        25.0,
        description="Seconds a graceful shutdown (SIGTERM) may take; then the process exits "
        "with code 75 and its uncommitted work is redelivered to the partitions' next owner.",
    )
    stall_timeout: float = Field(
        120.0,
        description="Seconds input may wait with no event processed, while the broker is "
        "reachable, before the worker counts as stalled: /health/live fails and the consumer's "
        "state is logged. Time the broker is unreachable does not count (docs/reliability.md).",
    )

    schemas_dir: Path | None = Field(
        None,
        description="Folder of the JSON Schemas (schemas/*.json). Unset: the repository's schemas/ "
        "next to the installed package.",
    )

    # --- Cleaning --------------------------------------------------------------------------
    clean_source_memory: bool = Field(
        True,
        description="Let the line model use what the same source repeated recently (lines and "
        "other stories' titles, kept per raw partition in the clean-memory Faust table). Replay-"
        "safe: an article sees only the articles before its offset, so a message replayed after "
        "a crash is cleaned as the first time (docs/cleaning.md).",
    )
    clean_memory_window: int = Field(
        2000,
        ge=1,
        description="Offsets of a raw partition per generation of the clean memory: an article "
        "sees what its source's earlier articles in the same partition carried, back to the start "
        "of the previous generation, and a replay up to this many offsets behind the furthest one "
        "recorded is cleaned exactly as the first time (docs/cleaning.md).",
    )
    html_max_bytes: int = Field(
        2 * 1024 * 1024, description="HTML larger than this is cut before extraction."
    )
    html_timeout: float = Field(
        5.0, description="Seconds trafilatura may spend on one page before it is dead-lettered."
    )
    min_clean_chars: int = Field(
        1, description="A cleaned body shorter than this is dead-lettered (empty_after_cleaning)."
    )

    metrics_clean_sources: str = Field(
        "",
        description="Comma-separated sources that get their own `source` label in the per-source "
        "cleaning metrics (empty-body, removed-line and language-mismatch rates).",
    )
    metrics_clean_source_slots: int = Field(
        20,
        ge=0,
        description="Besides NEWSFLOW_METRICS_CLEAN_SOURCES, how many of the first sources seen "
        "get their own `source` label; every later source is counted as `other`.",
    )

    # --- Dedup -----------------------------------------------------------------------------
    dedup_num_perm: int = Field(
        64, description="MinHash permutations (for LSH banding; at least bands x rows)."
    )
    dedup_shingle_size: int = Field(
        4,
        description="Words per shingle. 4 rather than 5: rewrites that change more words keep "
        "more shingles, at the same separation of distinct stories (docs/dedup.md).",
    )
    dedup_jaccard_threshold: float = Field(
        0.55,
        description="Jaccard (of shingle fingerprints) at or above which a candidate is a near "
        "duplicate (spun rewrites measure 0.73+, distinct stories at most 0.41; docs/dedup.md).",
    )
    dedup_containment_threshold: float = Field(
        0.63,
        description="Containment of the smaller shingle set in the larger at or above which a "
        "candidate is a near duplicate (truncated and updated copies). It sits between the "
        "highest distinct-story pair measured (0.60) and edited wire copies that do not keep "
        "the lead (0.65+); see docs/dedup.md.",
    )
    dedup_window_days: float = Field(
        7.0, description="Index entries expire this many days after their event time."
    )
    dedup_bands: int = Field(
        32,
        description="LSH bands over the whole-text MinHash (they only propose candidates; "
        "every candidate is verified on shingle fingerprints).",
    )
    dedup_band_rows: int = Field(
        2, description="Signature values per LSH band (1-4; fewer rows find lower-Jaccard pairs)."
    )
    dedup_lead_words: int = Field(
        60,
        description="Words at the start of an article covered by the lead sketch, which finds "
        "truncated, updated and re-headlined copies whose whole-text Jaccard is low.",
    )
    dedup_lead_bands: int = Field(
        16,
        description="LSH bands (of 2 values each) over the lead sketch; 16 find a 25-word "
        "teaser of a long article with probability 0.92.",
    )
    dedup_max_fingerprints: int = Field(
        1024,
        description="Most shingle fingerprints (2 bytes each) kept per article in the state; "
        "longer articles keep a nested hash sample, which bounds an entry at about 2.2 KB.",
    )
    dedup_lead_threshold: float = Field(
        0.3,
        description="Share of one text's lead (its first dedup_lead_words words, as shingles) "
        "found in the other at or above which the two are treated as the same story, so that "
        "dedup_lead_containment_threshold applies instead of dedup_containment_threshold.",
    )
    dedup_lead_containment_threshold: float = Field(
        0.45,
        description="Containment at or above which a candidate sharing the lead (see "
        "dedup_lead_threshold) is a near duplicate: edited wire copies keep the lead.",
    )
    dedup_min_containment_shingles: int = Field(
        20,
        description="The containment rule applies only when the smaller text has at least this "
        "many distinct shingles (a few words are contained in many articles).",
    )

    # --- Stories ---------------------------------------------------------------------------
    story_threshold: float = Field(
        0.3,
        description="Probability (of the story model, workers/data/story_model.json) at or above "
        "which an article joins its best live story; below it, it starts a story. The mean of "
        "the thresholds chosen on each half of ecb-dev's topics (leave-topics-out, "
        "docs/stories.md).",
    )
    story_quiet_period: float = Field(
        3.0,
        description="Days without a new article after which a story is cold: it takes no more "
        "articles (a similar event later starts a new story) and leaves the state.",
    )
    story_native: bool = Field(
        True,
        description="Run the story stage's hot parts (document frequencies and TF-IDF "
        "weighing, the candidate index, cosines and pair features, rankings, packing of the "
        "state) in compiled code (newsflow_native, built from native/ by "
        "scripts/build-native.sh; the same decisions bit for bit, about 2.5 times as fast). "
        "When it is not installed the Python code runs, with a warning; false chooses the "
        "Python code.",
    )

    # --- Entities --------------------------------------------------------------------------
    spacy_model: str = Field(
        "ner-news",
        description="spaCy pipeline used for NER: a pipeline shipped in workers/data/models/ "
        "(ner-news: CoNLL-2003 fine-tune, research-use data; docs/model-card-ner.md), an "
        "installed package (en_core_web_sm: the OntoNotes model) or a pipeline folder.",
    )
    tag_batch_size: int = Field(32, description="Articles per tagging batch (stream.take).")
    tag_batch_window: float = Field(
        0.1,
        description="Most seconds an article waits for its tagging batch to fill (a batch goes "
        "when it has tag_batch_size articles or when this time is up, whichever comes first).",
    )
    tag_timeout: float = Field(
        60.0,
        description="Seconds a tagging process may take for one batch; then it is killed and "
        "restarted, and the batch is retried article by article.",
    )
    tag_workers: int = Field(
        default_factory=_default_cores,
        description="Tagging worker processes (default: the cores this process may use).",
    )
    tag_in_flight: int = Field(
        0,
        ge=0,
        description="Tagging batches in flight at once (the tag agent's concurrency); 0: "
        "tag_workers + 1, so that a tagging process has its next batch while the event loop "
        "delivers the last. Commits never pass a batch still in flight (faustfix.guard_commits; "
        "docs/reliability.md).",
    )
    tag_include_numeric: bool = Field(
        False, description="Also report numeric/date entity types (DATE, MONEY, CARDINAL, ...)."
    )

    # --- Data ------------------------------------------------------------------------------
    shared_data_dir: Path = Field(
        Path("..") / "shared" / "data",
        description="Development data folder (news-dev.jsonl, seed-article.txt, ...).",
    )

    @property
    def bootstrap_servers(self) -> str:
        """The broker address list in effect."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def uses_local_kafka(self) -> bool:
        return self.kafka_bootstrap_servers is None

    def topic_names(self) -> dict[str, str]:
        return {
            "raw": self.topic_raw,
            "cleaned": self.topic_cleaned,
            "unique": self.topic_unique,
            "duplicates": self.topic_duplicates,
            "tagged": self.topic_tagged,
            "enriched": self.topic_enriched,
            "stories": self.topic_stories,
            "deadletter": self.topic_deadletter,
        }

    def topic_partitions(self) -> dict[str, int]:
        """Partition count per topic name."""
        return {
            self.topic_raw: self.partitions_raw,
            self.topic_cleaned: self.partitions_cleaned,
            self.topic_unique: self.partitions_unique,
            self.topic_duplicates: self.partitions_outputs,
            self.topic_tagged: self.partitions_tagged,
            self.topic_enriched: self.partitions_outputs,
            self.topic_stories: self.partitions_outputs,
            self.topic_deadletter: self.partitions_outputs,
        }

    def compacted_topics(self) -> set[str]:
        """Topics keyed by an entity whose latest value is what counts (log compaction)."""
        return {self.topic_stories}
