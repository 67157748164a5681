"""Logging set-up for `callgate serve`: plain text for people, or one JSON object per line for machines.

A line about a call carries its session id as `call` in JSON. The code's convention gives it: a
message about one call starts `call %s` (or `inbound call %s`) with the session id as the first
argument, or passes `extra={"call": session_id}`; the formatter reads either, so no log site needs
a second spelling for JSON.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Final

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_ABOUT_A_CALL: Final = re.compile(r"(?:inbound |outbound )?call %s\b")


def call_of(record: logging.LogRecord) -> str | None:
    """The session id a record is about, by the convention above, or None."""
    explicit = getattr(record, "call", None)
    if isinstance(explicit, str):
        return explicit
    if (
        isinstance(record.msg, str)
        and isinstance(record.args, tuple)
        and record.args
        and _ABOUT_A_CALL.match(record.msg)
    ):
        return str(record.args[0])
    return None


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "call"?, "exception"?}` on one line, UTF-8 safe."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        call = call_of(record)
        if call is not None:
            line["call"] = call
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str, fmt: str) -> None:
    """Route the root logger to stderr in `fmt` ("text" or "json") at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
