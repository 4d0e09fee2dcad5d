"""What the simulated caller does, step by step, once the media stream is open."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stellar.kernel.audio import PHONE_RATE


@dataclass(frozen=True)
class Say:
    """Caller speech from the project's TTS; first waits until the agent is not speaking.

    `barge_in=True` starts at once, over the agent. A script that should hear the greeting
    first starts with `WaitForAgent()`: right after `start` no agent audio has arrived yet.
    """

    text: str
    voice: str | None = None
    barge_in: bool = False


@dataclass(frozen=True, eq=False)
class Audio:
    """Caller speech from a WAV file (any rate, mono/stereo) or an int16 array at sample_rate."""

    source: str | Path | np.ndarray
    sample_rate: int = PHONE_RATE
    barge_in: bool = False
    label: str | None = None

    @property
    def description(self) -> str:
        """How the transcript names this audio."""
        if self.label:
            return self.label
        if isinstance(self.source, np.ndarray):
            return f"<audio {len(self.source) / self.sample_rate:.2f}s>"
        return f"<{Path(self.source).name}>"


@dataclass(frozen=True)
class Digits:
    """Key presses sent as `dtmf` events (track inbound_track), `gap` seconds apart."""

    digits: str
    gap: float = 0.25


@dataclass(frozen=True)
class Wait:
    """Caller stays silent for a while (line silence keeps flowing)."""

    seconds: float


@dataclass(frozen=True)
class WaitForAgent:
    """Wait until the agent spoke (or a mark was echoed) and has then been quiet for `quiet` s.

    `timeout` and `quiet` are wall-clock seconds even when the call is sped up, because the
    server under test thinks in real time.
    """

    timeout: float = 20.0
    quiet: float = 0.7


@dataclass(frozen=True)
class HangUp:
    """Caller hangs up: `stop` is sent and the websocket closed."""


Step = Say | Audio | Digits | Wait | WaitForAgent | HangUp
