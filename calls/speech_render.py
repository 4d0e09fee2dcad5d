"""Text → 20 ms μ-law frames with the configured TTS; fixed lines are rendered once per process."""

from __future__ import annotations

from functools import lru_cache

from agents.speech.registry import get_tts

from .audio.codec import frames, pcm16_to_ulaw


@lru_cache(maxsize=512)
def _render(text: str, voice: str | None) -> tuple[bytes, ...]:
    pcm = get_tts().synthesize(text, voice)
    return tuple(frames(pcm16_to_ulaw(pcm)))


def render_frames(text: str, voice: str | None = None) -> list[bytes]:
    return list(_render(text.strip(), voice)) if text.strip() else []
