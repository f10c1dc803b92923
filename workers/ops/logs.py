"""Logging set-up: human console lines or one JSON object per line, with per-message fields.

Also the worker's ``logging.config`` dictionary (:func:`logging_config`) and the filter that
thins out repeated Kafka-client errors while the broker is away.

Per-message problems are logged with ``extra={"stage", "reason", "article_id", "topic",
"partition", "offset"}``; both formats print those fields.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from workers.settings import Settings

FIELDS = ("stage", "reason", "article_id", "topic", "partition", "offset")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            if getattr(record, name, None) is not None:
                doc[name] = getattr(record, name)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, None) is not None
        ]
        return f"{line} [{' '.join(extras)}]" if extras else line


def setup_logging(level: str = "INFO", fmt: str = "console") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Faust and aiokafka are chatty at INFO; keep their warnings.
    for noisy in ("aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))


class RepeatFilter(logging.Filter):
    """Lets one record per logger and message template through every ``seconds``.

    While the broker is away aiokafka logs every failed connection attempt at ERROR, about 90
    lines a second; one a few seconds says the same.
    """

    def __init__(self, seconds: float = 5.0) -> None:
        super().__init__()
        self.seconds = seconds
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -self.seconds) < self.seconds:
            return False
        self._last[key] = now
        return True


def logging_config(settings: Settings) -> dict[str, Any]:
    formatter = (
        "workers.ops.logs.JsonFormatter"
        if settings.log_format == "json"
        else ("workers.ops.logs.ConsoleFormatter")
    )
    # Libraries log at their own level, never below the worker's.
    quiet = max(
        logging.getLevelName(settings.library_log_level), logging.getLevelName(settings.log_level)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": formatter}},
        "filters": {"repeats": {"()": "workers.ops.logs.RepeatFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "stream": "ext://sys.stderr",
            },
            "kafka_client": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "stream": "ext://sys.stderr",
                "filters": ["repeats"],
            },
        },
        "root": {"level": settings.log_level, "handlers": ["stderr"]},
        "loggers": {
            "aiokafka": {"level": quiet, "handlers": ["kafka_client"], "propagate": False},
            "faust": {"level": quiet},
            "mode": {"level": quiet},
            # Faust logs its start-up banner and worker state at INFO through these.
            "faust.worker": {"level": "INFO"},
        },
    }
