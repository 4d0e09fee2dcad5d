"""One socket per call, each stream token used once: claims kept in the shared cache (Redis in
production), so they hold across Daphne processes.

A token is claimed when its socket is accepted and stays claimed until it would have expired, so
a copied or replayed token opens nothing. A live socket holds its call's lease; the lease lapses
`LEASE_SECONDS` after its process stops renewing it (a crashed process does not block the call's
next stream for long), and is released when the socket closes (a handover that returns to the
agent opens the next stream at once).
"""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache

LEASE_SECONDS = 30
RENEW_SECONDS = 5.0


def _token_key(token: str) -> str:
    return "stellar:stream-token:" + hashlib.sha256(token.encode()).hexdigest()


def token_claim(token: str, *, ttl: int) -> bool:
    """True the first time `token` is claimed within `ttl` seconds, False ever after."""
    return bool(cache.add(_token_key(token), 1, ttl))


async def token_aclaim(token: str, *, ttl: int) -> bool:
    return bool(await cache.aadd(_token_key(token), 1, ttl))


class StreamLease:
    """The right of one socket (`holder`: its channel name) to run a call."""

    def __init__(self, call_id: int, holder: str) -> None:
        self.key = f"stellar:stream-lease:{call_id}"
        self.holder = holder
        self._renewed = 0.0

    async def acquire(self) -> bool:
        """False while another socket holds the call."""
        taken = bool(await cache.aadd(self.key, self.holder, LEASE_SECONDS))
        self._renewed = time.monotonic()
        return taken

    async def renew(self) -> None:
        """Keep the lease while frames flow (cheap: at most every RENEW_SECONDS)."""
        now = time.monotonic()
        if now - self._renewed < RENEW_SECONDS:
            return
        self._renewed = now
        if await cache.aget(self.key) in (None, self.holder):
            await cache.aset(self.key, self.holder, LEASE_SECONDS)

    async def release(self) -> None:
        if await cache.aget(self.key) == self.holder:
            await cache.adelete(self.key)
