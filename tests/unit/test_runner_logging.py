"""The worker's logging set-up: library loggers at their own level, never below the worker's,
and aiokafka's repeated connection errors thinned out."""

from __future__ import annotations

import logging

import pytest

from workers.ops.logs import RepeatFilter, logging_config
from workers.settings import Settings


@pytest.mark.parametrize(
    ("worker", "library", "expected"),
    [("INFO", "WARNING", logging.WARNING), ("DEBUG", "INFO", logging.INFO),
     ("ERROR", "INFO", logging.ERROR)],
)
def test_library_loggers_never_log_below_the_worker(worker, library, expected) -> None:
    config = logging_config(Settings(log_level=worker, library_log_level=library))
    for name in ("aiokafka", "faust", "mode"):
        assert logging.getLevelName(config["loggers"][name]["level"]) == logging.getLevelName(
            expected
        )


def test_repeat_filter_lets_one_record_per_template_through_per_period() -> None:
    repeats = RepeatFilter(seconds=60.0)

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, msg, None, None)

    assert repeats.filter(record("Unable connect to %s"))
    assert not repeats.filter(record("Unable connect to %s"))
    assert repeats.filter(record("Another message"))
