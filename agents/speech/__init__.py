"""Embedded offline speech stack (VAD, end-pointing, STT, TTS) behind small provider interfaces.

Importing this package is cheap: models load on first `get_stt()`/`get_tts()` or `warm_up()`.
"""

from agents.speech.base import STT, TTS, VAD
from agents.speech.endpointer import (
    Endpointer,
    EndpointerConfig,
    EndpointEvent,
    SpeechCancelled,
    SpeechPaused,
    SpeechStarted,
    UtteranceEnded,
)
from agents.speech.registry import get_stt, get_tts, get_vad, warm_up

__all__ = [
    "STT",
    "TTS",
    "VAD",
    "EndpointEvent",
    "Endpointer",
    "EndpointerConfig",
    "SpeechCancelled",
    "SpeechPaused",
    "SpeechStarted",
    "UtteranceEnded",
    "get_stt",
    "get_tts",
    "get_vad",
    "warm_up",
]
