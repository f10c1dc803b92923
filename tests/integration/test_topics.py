"""Topic housekeeping on the real broker: a run's clean-up leaves no topic of its own behind."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from workers.kafka.io import client_kwargs, create_topics, delete_topics
from workers.settings import Settings
from workers.tools.demo import run_settings


async def _topics(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _create(settings: Settings, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 1, 1) for n in names])
    finally:
        await admin.close()


def _gone(settings: Settings, names: set[str], timeout: float = 30.0) -> set[str]:
    """Those of ``names`` still listed once the broker has had ``timeout`` s to delete them."""
    deadline = time.monotonic() + timeout
    while True:
        left = names & asyncio.run(_topics(settings))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def test_delete_topics_with_app_topics_removes_the_runs_faust_topics_only(kafka: Settings) -> None:
    run = run_settings(kafka, f"t{uuid.uuid4().hex[:8]}")
    other = run_settings(kafka, f"t{uuid.uuid4().hex[:8]}")
    # What Faust makes for an app id: table changelogs and the assignor's topic.
    faust_made = [f"{run.app_id}-dedup-state-changelog", f"{run.app_id}-__assignor-__leader"]
    # A topic of another run, and one whose name merely starts like the app id.
    bystanders = [f"{other.app_id}-dedup-state-changelog", f"{run.app_id}x-changelog"]
    asyncio.run(create_topics(run))
    asyncio.run(_create(run, faust_made + bystanders))
    try:
        asyncio.run(delete_topics(run, run.topic_names().values()))
        assert _gone(run, set(run.topic_names().values())) == set()
        assert set(faust_made + bystanders) <= asyncio.run(_topics(run))  # not asked for

        asyncio.run(delete_topics(run, [], app_topics=True))
        assert _gone(run, set(faust_made)) == set()
        assert set(bystanders) <= asyncio.run(_topics(run))
    finally:
        asyncio.run(delete_topics(run, faust_made + bystanders))
