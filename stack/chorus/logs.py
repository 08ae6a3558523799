"""Structured logs: one line per event, with the service, node and space in every line.

A line in the default `kv` format looks like::

    ts=2025-01-01T12:00:00.000Z level=info service=fanout node=fanout-1 space=sp-1a2b event=listener_dropped reason=slow_queue

`space` and `node` are `-` when an event concerns no space or no node, so every
line can be filtered by them (`grep space=sp-1a2b`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from chorus.config import LoggingConfig

_FIELDS = "chorus_fields"


class EventFormatter(logging.Formatter):
    """Format records as `key=value` or JSON lines with fixed leading keys.

    Args:
        service: The service name put in every line (`gateway`, `fanout`, `chorusctl`).
        node: The node id put in lines that do not name one, or `-`.
        style_name: `kv` or `json`.
    """

    def __init__(self, service: str, node: str = "-", style_name: str = "kv") -> None:
        super().__init__()
        self.service = service
        self.node = node
        self.style_name = style_name

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a single line.

        Args:
            record: The log record; events made by `log_event` carry their fields.

        Returns:
            The line, without a trailing newline.
        """
        fields: dict[str, Any] = dict(getattr(record, _FIELDS, {}))
        event = fields.pop("event", None) or record.getMessage()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line: dict[str, Any] = {
            "ts": stamp,
            "level": record.levelname.lower(),
            "service": self.service,
            "node": fields.pop("node", None) or self.node,
            "space": fields.pop("space", None) or "-",
            "event": event,
        }
        if not hasattr(record, _FIELDS) and record.name != "chorus":
            line["logger"] = record.name
        line.update(fields)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        if self.style_name == "json":
            return json.dumps(line, default=str)
        return " ".join(f"{key}={_kv_value(value)}" for key, value in line.items())


def _kv_value(value: Any) -> str:
    """Quote a value for a key=value line when it holds spaces, quotes or `=`."""
    text = "-" if value is None else str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text)
    return text


def configure_logging(config: LoggingConfig, service: str, node: str = "-") -> logging.Logger:
    """Send every log record of the process to stderr as one structured line each.

    Args:
        config: The `logging` section of the configuration.
        service: The service name put in every line.
        node: The node id put in every line that does not name another.

    Returns:
        The `chorus` logger, for `log_event`.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EventFormatter(service, node, config.format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    for noisy in ("websockets", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return logging.getLogger("chorus")


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields; pass `space=` and `node=` whenever they apply.

    Args:
        logger: The logger (usually `logging.getLogger("chorus")`).
        event: The event's name, snake_case, e.g. `join_shed`.
        level: The logging level.
        **fields: Key-value pairs added to the line.
    """
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_FIELDS: {"event": event, **fields}})
