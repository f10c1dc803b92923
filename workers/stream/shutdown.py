"""The watchdog that bounds a graceful shutdown (docs/reliability.md)."""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("newsflow.shutdown")


class ShutdownWatchdog:
    """Ends the process if a graceful shutdown takes longer than ``timeout`` seconds.

    Faust waits for in-flight events to be acknowledged and commits before it exits; a stuck
    batch (a wedged tagging child, an unreachable broker) must not hold the process for ever.
    What was not committed is redelivered to the next owner of the partition (at-least-once).
    """

    EXIT_CODE = 75  # EX_TEMPFAIL: stopped, but not cleanly

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        log.error("graceful shutdown took over %.0f s; exiting now", self.timeout)
        logging.shutdown()
        os._exit(self.EXIT_CODE)
