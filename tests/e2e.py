"""Helpers for end-to-end tests: place simulated Twilio calls against the live Daphne."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from calls.simulator import CallResult, SimulatedCall, simulate_call
from tests.twilio_call import ACCOUNT_SID, AUTH_TOKEN, Line


def simulated(server, line: Line, script: list, **options: Any) -> SimulatedCall:
    """A simulated call from Twilio to `line` on `server` (the caller side sped up 2x)."""
    return SimulatedCall(
        base_url=server.url,
        webhook=line.connector.webhook_path,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        public_url=server.public_url,
        script=script,
        realtime=options.pop("realtime", 2.0),
        **options,
    )


def place_call(server, line: Line, script: list, **options: Any) -> CallResult:
    return asyncio.run(simulate_call(simulated(server, line, script, **options)))


def eventually(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.2) -> Any:
    """Poll until `check()` is truthy (the server persists at turn boundaries, asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def words(text: str | None) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in (text or "").lower()).split())
