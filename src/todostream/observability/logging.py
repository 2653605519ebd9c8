"""Log records with structured fields, as JSON lines or readable console lines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from todostream.observability.tracing import request_id_var, traceparent_var

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


def structured_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record, plus the request id and trace of the current request."""
    fields = {key: value for key, value in vars(record).items() if key not in _STANDARD}
    if "request_id" not in fields and request_id_var.get():
        fields["request_id"] = request_id_var.get()
    if "traceparent" not in fields and traceparent_var.get():
        fields["traceparent"] = traceparent_var.get()
    return {key: value for key, value in fields.items() if value is not None}


def describe_error(exc: BaseException) -> str:
    """An error in one line (its type, and its message when it has one), for expected
    outages whose traceback would say nothing new every few seconds."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **structured_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{key}={value}" for key, value in structured_fields(record).items())
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line}  {fields}" if fields else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class RepeatLimiter(logging.Filter):
    """Lets one line of a kind through per interval for chatty client libraries.

    aiokafka logs every failed connection attempt, thousands a minute while a broker is down;
    the first line of each kind per interval gets through, with how many were held back since.
    """

    def __init__(self, prefixes: tuple[str, ...], interval_s: float = 30.0) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._interval = interval_s
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefixes):
            return True
        key = (record.name, str(record.msg))
        shown_at, held = self._last.get(key, (float("-inf"), 0))
        if record.created - shown_at < self._interval:
            self._last[key] = (shown_at, held + 1)
            return False
        self._last[key] = (record.created, 0)
        if held:
            record.suppressed = held
        return True


def configure_logging(log_format: str, level: str) -> None:
    """Route every logger, uvicorn's included, through one handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    handler.addFilter(RepeatLimiter(("aiokafka", "kafka")))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("aiokafka", "kafka", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
