"""Where a turn's time went, from the caller's last word to the agent's first frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TurnTiming:
    """Call-clock milliseconds of each stage of one caller turn."""

    caller_end_ms: int  # the caller's last voiced audio
    endpointed_ms: int  # the end-pointer decided the turn was over
    transcribed_ms: int  # the transcript was ready
    speculative_stt: bool  # it came from the transcription started during the pause
    decided_ms: int | None = None  # the brain produced the first words

    def event_data(self, first_frame_ms: int) -> dict[str, Any]:
        """The `turn_timing` CallEvent's data for an answer that started at `first_frame_ms`."""
        decided = first_frame_ms if self.decided_ms is None else self.decided_ms
        return {
            "total_ms": first_frame_ms - self.caller_end_ms,
            "endpoint_ms": self.endpointed_ms - self.caller_end_ms,
            "stt_wait_ms": self.transcribed_ms - self.endpointed_ms,
            "speculative_stt": self.speculative_stt,
            "brain_ms": decided - self.transcribed_ms,
            "tts_first_ms": first_frame_ms - decided,
        }
