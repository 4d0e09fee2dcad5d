"""Text → 20 ms μ-law frames with the configured TTS.

Fixed lines (greetings, knowledge answers, handover lines) are rendered once per process and
kept, so they start playing at once; `prerender` does it ahead of the first call.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from agents.speech.registry import get_tts
from stellar.kernel.audio import frames, pcm16_to_ulaw

logger = logging.getLogger(__name__)

# Speech inference runs here, off the event loop, so one call's STT never stalls another's audio.
SPEECH_POOL = ThreadPoolExecutor(
    max_workers=getattr(settings, "STELLAR_SPEECH_THREADS", 2), thread_name_prefix="speech"
)
# Background rendering of fixed lines never competes with a live turn for SPEECH_POOL.
PRERENDER_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prerender")


CACHE_SIZE = 1024
_cache: OrderedDict[tuple[str, str | None], tuple[bytes, ...]] = OrderedDict()
_cache_lock = threading.Lock()


def cached_frames(text: str, voice: str | None) -> tuple[bytes, ...] | None:
    with _cache_lock:
        found = _cache.get((text.strip(), voice))
        if found is not None:
            _cache.move_to_end((text.strip(), voice))
        return found


def _remember(text: str, voice: str | None, rendered: tuple[bytes, ...]) -> None:
    with _cache_lock:
        _cache[(text.strip(), voice)] = rendered
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def render_stream(text: str, voice: str | None, on_frames: Callable[[list[bytes]], None]) -> None:
    """Render sentence by sentence, handing each sentence's frames over as soon as it exists
    (playback starts after the first sentence); the whole line is cached afterwards."""
    text = text.strip()
    if not text:
        return
    found = cached_frames(text, voice)
    if found is not None:
        on_frames(list(found))
        return
    rendered: list[bytes] = []
    for pcm in get_tts().synthesize_stream(text, voice):
        sentence = frames(pcm16_to_ulaw(pcm))
        rendered.extend(sentence)
        on_frames(sentence)
    _remember(text, voice, tuple(rendered))


def render_frames(text: str, voice: str | None = None) -> list[bytes]:
    out: list[bytes] = []
    render_stream(text, voice, out.extend)
    return out


def prerender(lines: list[str], voice: str | None) -> None:
    for line in lines:
        try:
            if cached_frames(line, voice) is None:
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
            conversation = Conversation(resolution.snapshot, CallContext())
            conversation.brain.choose("hello")  # embeds the version's example phrases once
            lines = conversation.fixed_lines()
            prerender(lines, resolution.snapshot.get("voice"))
            count += len(lines)
    return count
