"""The worker's HTTP endpoints: ``/metrics``, ``/health/live`` and ``/health/ready``.

The stream layer hands in two callables that report its state as JSON-able dicts (``live`` with
a boolean ``"live"`` key, ``ready`` with a boolean ``"ready"`` key); each endpoint answers 200
when that key is true and 503 otherwise, with the dict as its body. What counts as live is
decided here (:func:`liveness`), from the event-loop monitor and the progress watchdog's verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from workers.ops.loopmon import EventLoopMonitor
from workers.ops.metrics import Metrics

# The paths the Dockerfile's HEALTHCHECK, docker-compose.yml and the Kubernetes probes call
# (tests/unit/test_deploy_image.py holds them to these).
METRICS_PATH = "/metrics"
LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
LIVE_STALL_SECONDS = 5.0  # /health/live fails when the loop monitor has not ticked for this long

State = Callable[[], dict[str, Any]]


def liveness(
    loop_monitor: EventLoopMonitor,
    *,
    progress_stalled: bool,
    pending_input: int,
    broker_reachable: bool = True,
) -> dict[str, Any]:
    """Live unless the event loop has not ticked for ``LIVE_STALL_SECONDS`` or the progress
    watchdog says input waits and nothing is processed while the broker answers.

    An unreachable broker never fails liveness (a restart cannot bring it back; readiness
    reports it): the watchdog does not count idle time while the broker is away, and
    ``broker_reachable`` is reported here only to explain the state."""
    stalled = time.monotonic() - loop_monitor.last_tick
    return {
        "live": stalled < LIVE_STALL_SECONDS and not progress_stalled,
        "loop_stalled_seconds": round(stalled, 3),
        "progress_stalled": progress_stalled,
        "pending_input": pending_input,
        "broker_reachable": broker_reachable,
    }


def register_endpoints(app: Any, metrics: Metrics, *, live: State, ready: State) -> None:
    """Add the three pages to a Faust app (``app.page`` routes on its web server)."""

    @app.page(METRICS_PATH)
    async def metrics_page(web: Any, request: Any) -> Any:
        body, content_type = metrics.render()
        return web.bytes(body, content_type=content_type.split(";")[0])

    @app.page(LIVE_PATH)
    async def live_page(web: Any, request: Any) -> Any:
        state = live()
        return web.json(state, status=200 if state["live"] else 503)

    @app.page(READY_PATH)
    async def ready_page(web: Any, request: Any) -> Any:
        state = ready()
        return web.json(state, status=200 if state["ready"] else 503)
