"""Text → 20 ms μ-law frames with the configured TTS, through the process's one render cache.

Lines are rendered once per process and voice and kept, so fixed lines (greetings, knowledge
answers, handover lines) start playing at once; `prerender` does it ahead of the first call.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from agents.engine import CallContext, Conversation
from agents.speech.base import TTS
from agents.speech.registry import get_tts
from connectors.models import PhoneConnector
from connectors.selectors import connector_resolve_version
from stellar.kernel.audio import frames, pcm16_to_ulaw

logger = logging.getLogger(__name__)

# Speech inference runs here, off the event loop, so one call's STT never stalls another's audio.
SPEECH_POOL = ThreadPoolExecutor(
    max_workers=getattr(settings, "STELLAR_SPEECH_THREADS", 2), thread_name_prefix="speech"
)
# Background rendering of fixed lines never competes with a live turn for SPEECH_POOL.
PRERENDER_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prerender")

CACHE_SIZE = 1024
Frames = tuple[bytes, ...]  # immutable: one cached line is shared by every call that says it


class SpeechRenderer:
    """Renders with `tts()` (the process TTS) and keeps the last `max_items` lines, by the
    voice the TTS actually used (None and the default voice's name are one entry)."""

    def __init__(self, tts: Callable[[], TTS] = get_tts, max_items: int = CACHE_SIZE) -> None:
        self._tts = tts
        self.max_items = max_items
        self._cache: OrderedDict[tuple[str, str], Frames] = OrderedDict()
        # Voice as asked → voice as rendered, learned on first render: the TTS is only asked
        # on a speech thread, never on the event loop (`cached` runs there).
        self._voices: dict[str | None, str] = {}
        self._lock = threading.Lock()

    def cached(self, text: str, voice: str | None) -> Frames | None:
        """The line's frames if they were rendered before, else None (never renders)."""
        with self._lock:
            resolved = self._voices.get(voice)
            return None if resolved is None else self._hit((text.strip(), resolved))

    def _hit(self, key: tuple[str, str]) -> Frames | None:
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
        return found

    def _resolve(self, tts: TTS, voice: str | None) -> str:
        resolve = getattr(tts, "resolve_voice", None)
        resolved = str(resolve(voice)) if callable(resolve) else (voice or "")
        with self._lock:
            self._voices[voice] = resolved
        return resolved

    def render_stream(
        self, text: str, voice: str | None, on_frames: Callable[[list[bytes]], None]
    ) -> None:
        """Render sentence by sentence, handing each sentence's frames over as soon as it exists
        (playback starts after the first sentence); the whole line is cached afterwards."""
        self._render(text, voice, on_frames)

    def render(self, text: str, voice: str | None = None) -> Frames:
        """The whole line's frames (the cached ones when there are)."""
        return self._render(text, voice, lambda _frames: None)

    def _render(
        self, text: str, voice: str | None, on_frames: Callable[[list[bytes]], None]
    ) -> Frames:
        text = text.strip()
        if not text:
            return ()
        tts = self._tts()
        key = (text, self._resolve(tts, voice))
        with self._lock:
            found = self._hit(key)
        if found is not None:
            on_frames(list(found))
            return found
        rendered: list[bytes] = []
        for pcm in tts.synthesize_stream(text, voice):
            sentence = frames(pcm16_to_ulaw(pcm))
            rendered.extend(sentence)
            on_frames(sentence)
        return self._remember(key, tuple(rendered))

    def _remember(self, key: tuple[str, str], rendered: Frames) -> Frames:
        with self._lock:
            kept = self._cache.setdefault(key, rendered)  # a concurrent render won: share it
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_items:
                self._cache.popitem(last=False)
            return kept

    def prerender(self, lines: list[str], voice: str | None) -> None:
        for line in lines:
            try:
                if self.cached(line, voice) is None:
                    self.render(line, voice)
            except Exception:
                logger.exception("pre-rendering a fixed line failed")

    def clear(self) -> None:
        """Forget every render (tests, or after changing voices)."""
        with self._lock:
            self._cache.clear()
            self._voices.clear()


RENDERER = SpeechRenderer()


def prerender_answering_versions() -> int:
    """Render the fixed lines of every version that would answer a call now (process start)."""
    count = 0
    for connector in PhoneConnector.objects.filter(enabled=True).select_related("agent"):
        resolution = connector_resolve_version(connector=connector)
        if resolution.snapshot:
            conversation = Conversation(resolution.snapshot, CallContext())
            conversation.brain.choose("hello")  # embeds the version's example phrases once
            lines = conversation.fixed_lines()
            RENDERER.prerender(lines, resolution.snapshot.get("voice"))
            count += len(lines)
    return count
