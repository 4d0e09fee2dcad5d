"""The one TTS render cache (calls.runtime.speech_render): rendered once, shared, bounded."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from agents.speech.base import TTS
from calls.runtime.speech_render import SpeechRenderer
from stellar.kernel.audio import FRAME_BYTES, ulaw_to_pcm16
from tests.unit.call_runtime_fakes import FakeTTS

GREETING = "Thank you for calling Stellar, how can I help you today?"


def test_render_cache_renders_once_and_is_read_only() -> None:
    renderer = SpeechRenderer()  # the process TTS (Piper)
    first = renderer.render(GREETING, "joe")
    again = renderer.render(GREETING, "joe")
    default_voice = renderer.render(GREETING, None)
    assert first is again is default_voice
    assert renderer.cached(f"  {GREETING} ", None) is first
    assert len(first) > 50 and all(len(frame) == FRAME_BYTES for frame in first)
    assert isinstance(first, tuple) and all(isinstance(frame, bytes) for frame in first)
    with pytest.raises(TypeError):
        first[0] = b"\xff" * FRAME_BYTES  # shared between calls: nobody may modify it
    assert renderer.cached(GREETING, "no-such-voice") is None  # not known to be the default yet
    assert renderer.render(GREETING, "no-such-voice") is first  # …which the TTS falls back to
    assert np.abs(ulaw_to_pcm16(b"".join(first)).astype(np.int32)).max() > 8000


class CountingTTS(TTS):
    """A deterministic renderer that counts calls, to test cache bookkeeping only."""

    def __init__(self) -> None:
        self.calls = 0

    def synthesize(self, text: str, voice: str | None = None) -> np.ndarray:
        self.calls += 1
        return np.full(800, len(text), dtype=np.int16)

    def voices(self) -> list[str]:
        return ["x"]


def test_render_cache_is_bounded_lru() -> None:
    fake = CountingTTS()
    renderer = SpeechRenderer(tts=lambda: fake, max_items=2)
    renderer.render("a", "x")
    renderer.render("bb", "x")
    renderer.render("a", "x")  # hit; "a" becomes most recent
    renderer.render("ccc", "x")  # evicts "bb"
    assert fake.calls == 3
    renderer.render("a", "x")
    assert fake.calls == 3
    renderer.render("bb", "x")
    assert fake.calls == 4
    renderer.render("a", "other")  # keyed on voice too
    assert fake.calls == 5
    renderer.clear()
    renderer.render("a", "x")
    assert fake.calls == 6


def test_streamed_render_hands_over_each_sentence_then_plays_from_the_cache() -> None:
    tts = FakeTTS(frames_per_sentence=3)
    renderer = SpeechRenderer(tts=lambda: tts)
    assert renderer.cached("One. Two.", "x") is None  # looking never renders
    assert tts.rendered == []

    handed: list[list[bytes]] = []
    renderer.render_stream("One. Two.", "x", handed.append)
    assert [len(batch) for batch in handed] == [3, 3]  # one batch per sentence, as it renders
    assert tts.rendered == ["One.", "Two."]

    cached = renderer.cached("One. Two.", "x")
    assert cached is not None and list(cached) == handed[0] + handed[1]
    again: list[list[bytes]] = []
    renderer.render_stream("One. Two.", "x", again.append)
    assert again == [handed[0] + handed[1]] and tts.rendered == ["One.", "Two."]
    renderer.render_stream("   ", "x", again.append)  # nothing to say
    assert len(again) == 1


def test_prerender_fills_the_cache_and_survives_a_failing_line() -> None:
    class Flaky(FakeTTS):
        def synthesize_stream(self, text: str, voice: str | None = None) -> Iterator[np.ndarray]:
            if "bad" in text:
                raise RuntimeError("voice model failed")
            return super().synthesize_stream(text, voice)

    tts = Flaky()
    renderer = SpeechRenderer(tts=lambda: tts)
    renderer.prerender(["Hello.", "bad line", "Goodbye."], None)
    assert renderer.cached("Hello.", None) is not None
    assert renderer.cached("Goodbye.", None) is not None
    assert renderer.cached("bad line", None) is None
