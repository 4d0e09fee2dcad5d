"""Text → 20 ms μ-law frames with the configured TTS.

Fixed lines (greetings, knowledge answers, handover lines) are rendered once per process and
kept, so they start playing at once; `prerender` does it ahead of the first call.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from django.conf import settings

from agents.speech.registry import get_tts

from .audio.codec import frames, pcm16_to_ulaw

logger = logging.getLogger(__name__)

# Speech inference runs here, off the event loop, so one call's STT never stalls another's audio.
SPEECH_POOL = ThreadPoolExecutor(
    max_workers=getattr(settings, "STELLAR_SPEECH_THREADS", 2), thread_name_prefix="speech"
)
# Background rendering of fixed lines never competes with a live turn for SPEECH_POOL.
PRERENDER_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prerender")


@lru_cache(maxsize=1024)
def _render(text: str, voice: str | None) -> tuple[bytes, ...]:
    pcm = get_tts().synthesize(text, voice)
    return tuple(frames(pcm16_to_ulaw(pcm)))


def render_frames(text: str, voice: str | None = None) -> list[bytes]:
    return list(_render(text.strip(), voice)) if text.strip() else []


def prerender(lines: list[str], voice: str | None) -> None:
    for line in lines:
        try:
            render_frames(line, voice)
        except Exception:
            logger.exception("pre-rendering a fixed line failed")


def prerender_answering_versions() -> int:
    """Render the fixed lines of every version that would answer a call now (process start)."""
    from agents.engine import CallContext, Conversation
    from connectors.models import PhoneConnector
    from connectors.selectors import connector_resolve_version

    count = 0
    for connector in PhoneConnector.objects.filter(enabled=True).select_related("agent"):
        resolution = connector_resolve_version(connector=connector)
        if resolution.snapshot:
            lines = Conversation(resolution.snapshot, CallContext()).fixed_lines()
            prerender(lines, resolution.snapshot.get("voice"))
            count += len(lines)
    return count
