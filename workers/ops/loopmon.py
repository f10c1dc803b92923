"""Event-loop lag monitor: how late the asyncio loop wakes a sleeping task.

A coroutine sleeps for a short interval again and again and measures how much later than asked
it was woken. Anything blocking the loop (a long synchronous stage call, a slow callback) shows
up as lag. The lag goes into ``newsflow_event_loop_lag_seconds``; ``last_tick`` (a
``time.monotonic()`` stamp) lets the liveness endpoint report a stuck loop, since a stuck loop
cannot tick. No Faust import: the app starts :meth:`EventLoopMonitor.run` as a task.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class _Histogram(Protocol):
    def observe(self, amount: float) -> None: ...


class _HasLoopLag(Protocol):
    """What the monitor needs of :class:`workers.ops.metrics.Metrics` (no import: no cycle)."""

    @property
    def loop_lag(self) -> _Histogram: ...


class EventLoopMonitor:
    """Measures event-loop lag into ``metrics.loop_lag`` and keeps the last and largest lag."""

    def __init__(self, metrics: _HasLoopLag | None = None) -> None:
        """``metrics``: where to observe the lag; ``None`` only keeps ``last_lag``/``max_lag``."""
        self.metrics = metrics
        self.last_tick = time.monotonic()  # when the loop last ran the monitor
        self.last_lag = 0.0  # seconds, most recent measurement
        self.max_lag = 0.0  # seconds, largest since start (or the last reset)
        self.ticks = 0

    def reset_max(self) -> float:
        """Return the largest lag seen and start over (benchmarks use this per phase)."""
        seen, self.max_lag = self.max_lag, 0.0
        return seen

    def record(self, lag: float) -> None:
        """Record one measurement (seconds; negative clock noise counts as 0)."""
        lag = max(0.0, lag)
        self.last_lag = lag
        self.max_lag = max(self.max_lag, lag)
        self.last_tick = time.monotonic()
        self.ticks += 1
        if self.metrics is not None:
            self.metrics.loop_lag.observe(lag)

    async def run(self, interval: float = 0.1) -> None:
        """Measure forever, every ``interval`` seconds; cancel the task to stop."""
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval!r}")
        loop = asyncio.get_running_loop()
        self.last_tick = time.monotonic()
        while True:
            asked = loop.time()
            await asyncio.sleep(interval)
            self.record(loop.time() - asked - interval)


async def running_loop() -> str:
    """The class of the running event loop, as ``module.Name`` (``uvloop.Loop`` or asyncio's)."""
    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__}.{type(loop).__qualname__}"
