"""Structured logs: one JSON object per line, with the Twilio CallSid of the call being handled.

`STELLAR_LOG_FORMAT=json` switches settings.LOGGING to `JsonFormatter`. The call path sets
`call_sid_var` once the media stream knows its call; asyncio tasks created afterwards (the
session's sender, turn loop, persistence) and `sync_to_async` threads copy the context, so
every line logged for that call carries `call_sid` without passing it around.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar

call_sid_var: ContextVar[str | None] = ContextVar("stellar_call_sid", default=None)

# LogRecord attributes that are not "extra" data given by the caller.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "call_sid", "taskName"}
)


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
        return json.dumps(entry, ensure_ascii=False, default=str)
