"""Progress watchdog: notices a worker that has input waiting and processes none of it.

A live event loop is not a working pipeline: a consumer whose partitions stay paused after a
rebalance, or an agent waiting for ever, leaves the loop ticking while committed offsets stand
still. Every few seconds the app reports (a) how many input messages are waiting, from the
consumer's highwater marks and the offsets Faust last committed, and (b) whether any event was
processed since the last report. When input has been waiting and nothing was processed for
``heal_after`` seconds with every agent idle, the app first re-reads the waiting input from the
committed offsets once (:meth:`ProgressWatchdog.should_heal`). If that does not help within
``stall_timeout`` seconds, the worker is *stalled*: ``/health/live`` fails (an orchestrator
restarts the process, which resumes from the committed offsets) and one ERROR line with the
consumer's state is logged to diagnose it. No Faust import; ``workers.stream.app`` feeds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any


def pending_messages(
    highwaters: Mapping[Any, int | None], committed: Mapping[Any, int | None]
) -> int:
    """Messages between each partition's committed offset and its highwater mark.

    Both are Kafka-style "next offset" numbers. A partition with an unknown highwater counts 0;
    one that never committed counts from 0.
    """
    total = 0
    for tp, highwater in highwaters.items():
        if highwater is None:
            continue
        total += max(0, highwater - (committed.get(tp) or 0))
    return total


class ProgressWatchdog:
    """Tracks processing progress against waiting input; see the module docstring."""

    def __init__(
        self,
        stall_timeout: float,
        heal_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if stall_timeout <= 0:
            raise ValueError(f"stall_timeout must be positive, got {stall_timeout!r}")
        self.stall_timeout = stall_timeout
        # An idle worker with input waiting re-reads it from the committed offsets once, after
        # this long (see should_heal); a quarter of the stall timeout unless given.
        self.heal_after = stall_timeout / 4 if heal_after is None else heal_after
        self._healed = False
        self.clock = clock
        self.events = 0  # processed events (agents add to it)
        self._seen_events = 0
        self._idle_since: float | None = None  # since when input waited with no progress
        self.stalled = False
        self.pending = 0
        self._busy: dict[str, float] = {}  # agent -> when its current event (batch) began

    def begin(self, agent: str) -> None:
        """``agent`` started on an event (or batch); :meth:`processed` ends it."""
        self._busy[agent] = self.clock()

    def processed(self, n: int = 1, agent: str | None = None) -> None:
        self.events += n
        if agent is not None:
            self._busy.pop(agent, None)

    def busy_seconds(self) -> dict[str, float]:
        """For each agent in the middle of an event (or batch): for how long, in seconds."""
        now = self.clock()
        return {agent: round(now - since, 1) for agent, since in self._busy.items()}

    def reset(self) -> None:
        """Forget the idle period (a rebalance or a table recovery is not a stall)."""
        self._idle_since = None
        self._seen_events = self.events
        self.stalled = False
        self._healed = False

    def broker_away(self, pending: int) -> None:
        """Record ``pending`` while the broker is unreachable: nothing can be fetched, delivered
        or committed, so this is no idle time of the worker's (no stall, no re-read); the idle
        clock starts again at the first :meth:`check` after the broker returns."""
        self.reset()
        self.pending = pending

    def check(self, pending: int) -> bool:
        """Record ``pending`` waiting input messages now; return whether the worker is stalled.

        Returns True only on the check that *enters* the stalled state (for logging once);
        :attr:`stalled` tells the current state.
        """
        self.pending = pending
        if self.events != self._seen_events or pending <= 0:
            self.reset()  # progress, or nothing to do: not idle
            return False
        now = self.clock()
        if self._idle_since is None:
            self._idle_since = now
        entered = not self.stalled and now - self._idle_since >= self.stall_timeout
        if entered:
            self.stalled = True
        return entered

    def should_heal(self) -> bool:
        """True once per idle period: input has waited ``heal_after`` seconds, nothing was
        processed meanwhile and no agent is in the middle of an event. Then nothing is in
        flight, and input that waits was fetched and lost on the way to the streams (a Faust
        race, docs/reliability.md): re-reading from the committed offsets is safe and cures it.
        """
        if self._healed or self._busy or self._idle_since is None:
            return False
        if self.clock() - self._idle_since < self.heal_after:
            return False
        self._healed = True
        return True

    def stalled_seconds(self) -> float:
        return 0.0 if self._idle_since is None else max(0.0, self.clock() - self._idle_since)
