"""Caller audio paced against the wall clock: a stream may run ahead of real time by a burst
(network jitter) and a rate tolerance (clock drift), no further — so nobody can push hours of
"audio" per minute into the spool, the speech models and the finalize task."""

from __future__ import annotations

from django.conf import settings

from stellar.kernel.audio import PHONE_RATE

SAMPLES_PER_MS = PHONE_RATE // 1000  # one μ-law byte per sample


class InboundPacer:
    """Admits a payload only while the audio received stays within what the wall clock allows."""

    def __init__(self, *, rate: float, burst_ms: int) -> None:
        if rate <= 0 or burst_ms < 0:
            raise ValueError("the inbound audio rate must be positive and the burst not negative")
        self._rate = rate
        self._burst_ms = burst_ms
        self._t0_ms: int | None = None
        self.received_ms = 0.0  # audio admitted since the stream started
        self.dropped_ms = 0.0  # audio refused for running ahead

    @classmethod
    def from_settings(cls) -> InboundPacer:
        return cls(
            rate=settings.STELLAR_INBOUND_AUDIO_RATE,
            burst_ms=int(settings.STELLAR_INBOUND_AUDIO_BURST_SECONDS * 1000),
        )

    def start(self, now_ms: int) -> None:
        """The stream started at `now_ms` (any monotonic millisecond clock)."""
        self._t0_ms = now_ms
        self.received_ms = 0.0
        self.dropped_ms = 0.0

    def admit(self, ulaw: bytes, now_ms: int) -> bool:
        """True: take this payload. False: it would run ahead of real time; drop it."""
        if self._t0_ms is None:
            self.start(now_ms)
        assert self._t0_ms is not None
        audio_ms = len(ulaw) / SAMPLES_PER_MS
        allowed_ms = (now_ms - self._t0_ms) * self._rate + self._burst_ms
        if self.received_ms + audio_ms > allowed_ms:
            self.dropped_ms += audio_ms
            return False
        self.received_ms += audio_ms
        return True


class KeyPacer:
    """Key presses at a human rate: a burst, then `per_second`; each one is a timeline write."""

    def __init__(self, *, per_second: float = 5.0, burst: int = 20) -> None:
        self._per_second = per_second
        self._burst = burst
        self._tokens = float(burst)
        self._last_ms: int | None = None

    def admit(self, now_ms: int) -> bool:
        if self._last_ms is not None:
            elapsed = max(0, now_ms - self._last_ms) / 1000
            self._tokens = min(self._burst, self._tokens + elapsed * self._per_second)
        self._last_ms = now_ms
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
