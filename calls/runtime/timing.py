"""Where a turn's time went, from the caller's last word to the agent's first frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The stages a turn waits for, in order; their milliseconds add up to `total_ms`. With a reply
# prepared during the pause (speculation), STT and the brain may be done before the end of the
# turn is confirmed: they then wait 0 ms.
STAGES = ("endpoint_ms", "stt_wait_ms", "brain_ms", "tts_first_ms")


@dataclass
class TurnTiming:
    """Call-clock milliseconds of each stage of one caller turn."""

    caller_end_ms: int  # the caller's last voiced audio
    endpointed_ms: int  # the end-pointer decided the turn was over
    transcribed_ms: int  # the transcript was ready
    speculative_stt: bool  # it came from the transcription started during the pause
    decided_ms: int | None = None  # the brain produced the first words
    speculative_reply: bool = False  # the brain ran (and the first words rendered) in the pause
    detector: str = "silence"  # what ended the turn: "smart" (turn detector) or "silence"

    def event_data(self, first_frame_ms: int) -> dict[str, Any]:
        """The `turn_timing` CallEvent's data for an answer that started at `first_frame_ms`:
        what each stage added after the one before it (never negative)."""
        decided = first_frame_ms if self.decided_ms is None else self.decided_ms
        transcribed = max(self.transcribed_ms, self.endpointed_ms)
        decided = min(max(decided, transcribed), first_frame_ms)
        return {
            "total_ms": first_frame_ms - self.caller_end_ms,
            "endpoint_ms": self.endpointed_ms - self.caller_end_ms,
            "stt_wait_ms": transcribed - self.endpointed_ms,
            "speculative_stt": self.speculative_stt,
            "speculative_reply": self.speculative_reply,
            "detector": self.detector,
            "brain_ms": decided - transcribed,
            "tts_first_ms": first_frame_ms - decided,
        }
