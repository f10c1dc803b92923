"""Plain aiokafka helpers: topic creation, producing and reading topics, the broker probe.

The worker itself talks to Kafka through Faust (``workers.stream.app``); these helpers are for
the edges (``newsflow topics create``, ``produce``, ``tail``, the demo's result collection) and
for the TCP probe behind ``/health/ready``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from workers.settings import Settings

MAX_REQUEST_BYTES = 10 * 1024 * 1024


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    return ssl.create_default_context(cafile=cafile)


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Connection settings shared by every aiokafka client we create."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        kwargs.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return kwargs


async def create_topics(settings: Settings) -> dict[str, str]:
    """Create the pipeline's topics with their partition counts; existing ones are kept."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    result: dict[str, str] = {}
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name,
                partitions,
                settings.replication_factor,
                topic_configs={
                    "max.message.bytes": str(MAX_REQUEST_BYTES),
                    **(
                        {"cleanup.policy": "compact"}
                        if name in settings.compacted_topics()
                        else {}
                    ),
                },
            )
            for name, partitions in settings.topic_partitions().items()
            if name not in existing
        ]
        for name in settings.topic_partitions():
            result[name] = "exists" if name in existing else "created"
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process raced us
                await admin.create_topics(new)
    finally:
        await admin.close()
    return result


async def delete_run_topics(settings: Settings) -> None:
    """Delete a run's pipeline topics and every topic Faust made for its app id: the clean-up
    of the demo, the benchmarks and the tests, whose runs have topics and an app id of their
    own (``workers.tools.demo.run_settings``)."""
    await delete_topics(settings, settings.topic_names().values(), app_topics=True)


async def delete_topics(settings: Settings, names: Iterable[str],
                        app_topics: bool = False) -> None:
    """Delete ``names`` where they exist; with ``app_topics``, also every topic Faust made for
    ``settings.app_id`` (table changelogs, the assignor's topic): for the runs of the demo,
    the benchmarks and the tests, which have an app id of their own."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        wanted = set(names)
        own = settings.app_id + "-"
        doomed = [t for t in await admin.list_topics()
                  if t in wanted or (app_topics and t.startswith(own))]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_kwargs(settings),
        max_request_size=MAX_REQUEST_BYTES,
        acks="all",
        linger_ms=5,
        **overrides,
    )


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


async def read_topics(
    settings: Settings,
    topics: list[str],
    *,
    idle_timeout: float = 5.0,
    deadline: float | None = None,
    from_beginning: bool = True,
    follow: bool = False,
    until: Callable[[], bool] | None = None,
) -> AsyncIterator[Record]:
    """Yield every record of ``topics`` (read_committed).

    Without ``follow``, stops once no record arrived for ``idle_timeout`` seconds; always stops
    at the absolute monotonic ``deadline`` and once ``until()`` says so after a record. (Stop
    through these, not by breaking out of the loop: the consumer then closes in the caller's
    task.)
    """
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        isolation_level="read_committed",
        fetch_max_bytes=MAX_REQUEST_BYTES * 2,
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
    )
    await consumer.start()
    try:
        # Group-less: a subscription is assigned every partition, read from the reset point.
        consumer.subscribe(topics)
        last = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            now = time.monotonic()
            for tp, messages in batch.items():
                for m in messages:
                    last = now
                    yield Record(tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp)
                    if until is not None and until():
                        return
            if deadline is not None and now > deadline:
                return
            if not follow and now - last > idle_timeout:
                return
    finally:
        await _stop(consumer)


async def _stop(consumer: AIOKafkaConsumer) -> None:
    """Stop a group-less consumer.

    aiokafka's group-less coordinator cancels and then awaits its helper task on close; when that
    task had not started yet, the await raises CancelledError although nobody cancelled *us*.
    """
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


async def broker_reachable(settings: Settings, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to any bootstrap server opens within ``timeout`` seconds."""
    for address in settings.bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]") or "127.0.0.1", int(port)), timeout
            )
        except (OSError, ValueError, TimeoutError):
            continue
        writer.close()
        return True
    return False
