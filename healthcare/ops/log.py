"""Structured logs: one JSON object per line. Never tokens, variables or health data."""

from __future__ import annotations

import functools
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

# Attributes every LogRecord has; anything else was passed in `extra=` and is logged.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def time_text(created: float) -> str:
    """`datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`, the
    date and time of day written once per second: that call was about half of formatting a
    request's line (4 of 10 us). The microseconds are rounded as `fromtimestamp` rounds
    them (half to even), then cut to milliseconds as `isoformat` cuts them."""
    second = int(created)  # toward zero: a time before 1970 borrows a second below
    microseconds = round((created - second) * 1_000_000)
    if microseconds >= 1_000_000:
        second += 1
        microseconds -= 1_000_000
    elif microseconds < 0:
        second -= 1
        microseconds += 1_000_000
    return f"{_second_text(second)}.{microseconds // 1000:03d}+00:00"


@functools.lru_cache(maxsize=4)  # the lines of one second, and a late record of the last
def _second_text(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).replace(tzinfo=None).isoformat()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time_text(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # what orjson refuses (an integer past 64 bits)
            return json.dumps(entry, default=str)


# The database drivers' loggers: at DEBUG they log statements with their parameters.
STATEMENT_LOGGERS = ("tortoise.db_client", "aiosqlite", "asyncpg")


def configure_logging(level: str) -> None:
    # A record's source line, thread and process, which no line shows (JsonFormatter
    # writes only `extra`'s fields beside its four): not looked up for every record, as
    # the logging HOWTO's "Optimization" section describes (a frame walk and a getpid
    # system call on each request's line). Process-wide: records anywhere in the
    # process then say "(unknown file)", line 0, for their source.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn's access log would be a second, unstructured line per request.
    logging.getLogger("uvicorn.access").disabled = True
    # The database drivers log every statement with its parameters at DEBUG: appointment
    # reasons, visit notes, messages, call signals. Never, whatever LOG_LEVEL says.
    quiet = max(logging.INFO, logging.getLevelNamesMapping()[level])
    for name in STATEMENT_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
