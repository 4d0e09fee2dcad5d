"""Text → 20 ms μ-law frames with the configured TTS; fixed lines are rendered once per process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from django.conf import settings

from agents.speech.registry import get_tts

from .audio.codec import frames, pcm16_to_ulaw

# Speech inference runs here, off the event loop, so one call's STT never stalls another's audio.
SPEECH_POOL = ThreadPoolExecutor(
    max_workers=getattr(settings, "STELLAR_SPEECH_THREADS", 2), thread_name_prefix="speech"
)


@lru_cache(maxsize=512)
def _render(text: str, voice: str | None) -> tuple[bytes, ...]:
    pcm = get_tts().synthesize(text, voice)
    return tuple(frames(pcm16_to_ulaw(pcm)))


def render_frames(text: str, voice: str | None = None) -> list[bytes]:
    return list(_render(text.strip(), voice)) if text.strip() else []
