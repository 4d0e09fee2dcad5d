"""Structured logs: one JSON object per line, with the Twilio CallSid of the call being handled.

`STELLAR_LOG_FORMAT=json` switches settings.LOGGING to `JsonFormatter`. The call path sets
`call_sid_var` once the media stream knows its call; asyncio tasks created afterwards (the
session's sender, turn loop, persistence) and `sync_to_async` threads copy the context, so
every line logged for that call carries `call_sid` without passing it around.

Log values come from outside too (Playground frames, IVR parameters, caller names): both
formatters keep every record on one line, so a value with a newline cannot forge a log entry.
"""

from __future__ import annotations

import json
import logging
import re
import time
from contextvars import ContextVar

call_sid_var: ContextVar[str | None] = ContextVar("stellar_call_sid", default=None)

# LogRecord attributes that are not "extra" data given by the caller.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "call_sid", "taskName"}
)


# What str.splitlines() and terminals treat as a line break or a control sequence.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What json.dumps leaves raw (it escapes U+0000-U+001F itself) but readers still split lines on.
_JSON_RAW_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def escape_controls(text: str) -> str:
    """`text` on one line: control characters written as Python escapes (\\n, \\x1b, …)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class TextFormatter(logging.Formatter):
    """The plain text format, with the message's control characters escaped (tracebacks,
    which the server writes, stay multi-line)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        original = record.message
        record.message = escape_controls(original)
        try:
            return super().formatMessage(record)
        finally:
            record.message = original


class CallSidFilter(logging.Filter):
    """Copy the current call's SID onto every record (kept if the caller passed one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "call_sid", None) is None:
            record.call_sid = call_sid_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601, ms), level, logger, message, call_sid, pid, then any extras."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, object] = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        call_sid = getattr(record, "call_sid", None) or call_sid_var.get()
        if call_sid:
            entry["call_sid"] = call_sid
        entry["pid"] = record.process
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str).translate(_JSON_RAW_BREAKS)
