"""Process-wide speech providers chosen by name in settings, each loaded once on first use.

Works without Django too (simulator, benchmarks): then the names come from the environment
(STELLAR_VAD / STELLAR_STT / STELLAR_TTS / STELLAR_TURN_DETECTOR) or the defaults below.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar, cast

import numpy as np

from agents.speech.base import STT, TTS, VAD, TurnDetector

logger = logging.getLogger(__name__)

DEFAULTS = {
    "STELLAR_VAD": "webrtc",
    "STELLAR_STT": "whisper",
    "STELLAR_TTS": "piper",
    "STELLAR_TURN_DETECTOR": "smart-turn",
}

T = TypeVar("T")


def _webrtc_vad() -> VAD:
    from agents.speech.vad import WebRtcVAD  # each provider's module only when chosen

    return WebRtcVAD()


def _whisper_stt() -> STT:
    from agents.speech.stt import WhisperSTT  # each provider's module only when chosen

    return WhisperSTT(cpu_threads=int(os.environ.get("STELLAR_STT_THREADS", "1")))


def _piper_tts() -> TTS:
    from agents.speech.tts import PiperTTS  # each provider's module only when chosen

    return PiperTTS()


def _smart_turn() -> TurnDetector:
    from agents.speech.turn_detector import SmartTurnDetector

    return SmartTurnDetector()


VAD_PROVIDERS: dict[str, Callable[[], VAD]] = {"webrtc": _webrtc_vad}
STT_PROVIDERS: dict[str, Callable[[], STT]] = {"whisper": _whisper_stt}
TTS_PROVIDERS: dict[str, Callable[[], TTS]] = {"piper": _piper_tts}
TURN_PROVIDERS: dict[str, Callable[[], TurnDetector]] = {"smart-turn": _smart_turn}


def _whisper_languages() -> tuple[str, ...]:
    from agents.speech.stt import WhisperSTT  # the class only: its model is not loaded

    return WhisperSTT.languages


# What each STT provider transcribes, known without loading its model (Studio forms ask).
STT_LANGUAGES: dict[str, Callable[[], tuple[str, ...]]] = {"whisper": _whisper_languages}

_instances: dict[str, object] = {}  # setting name → what its provider built
_locks = {name: threading.Lock() for name in DEFAULTS}


def _setting(name: str) -> str:
    """Read a provider name from Django settings when they are usable, else env/defaults."""
    default = os.environ.get(name, DEFAULTS[name])
    try:
        from django.conf import settings  # optional: the speech package works without Django
    except ImportError:
        return default
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return default
    try:
        return str(getattr(settings, name, default))
    except Exception:  # ImproperlyConfigured or a broken settings module: stay usable standalone
        logger.debug("Django settings unavailable, using %s=%s", name, default, exc_info=True)
        return default


def _get(name: str, providers: dict[str, Callable[[], T]]) -> T:
    """Thread-safe lazy singleton: the first caller loads, concurrent callers wait for it."""
    # cast: _instances[name] only ever holds what a factory of `providers` built for `name`.
    instance = _instances.get(name)
    if instance is not None:
        return cast(T, instance)
    with _locks[name]:
        instance = _instances.get(name)
        if instance is not None:
            return cast(T, instance)
        choice = _setting(name)
        factory = providers.get(choice)
        if factory is None:
            raise ValueError(f"{name}={choice!r}: expected one of {sorted(providers)}")
        started = time.perf_counter()
        built = factory()
        logger.info("Loaded %s=%s in %.2fs", name, choice, time.perf_counter() - started)
        _instances[name] = built
        return built


def get_vad() -> VAD:
    """The process VAD (settings.STELLAR_VAD); wrap per stream via `Endpointer`/`new_stream()`."""
    return _get("STELLAR_VAD", VAD_PROVIDERS)


def get_stt() -> STT:
    """The process STT (settings.STELLAR_STT)."""
    return _get("STELLAR_STT", STT_PROVIDERS)


def get_tts() -> TTS:
    """The process TTS (settings.STELLAR_TTS)."""
    return _get("STELLAR_TTS", TTS_PROVIDERS)


def get_turn_detector() -> TurnDetector:
    """The process turn detector (settings.STELLAR_TURN_DETECTOR) for "smart" end-of-turn."""
    return _get("STELLAR_TURN_DETECTOR", TURN_PROVIDERS)


def stt_languages() -> tuple[str, ...]:
    """Base languages the configured STT transcribes (without loading it when it can)."""
    known = STT_LANGUAGES.get(_setting("STELLAR_STT"))
    return known() if known is not None else get_stt().languages


def tts_voices() -> list[str]:
    """The voices the configured TTS speaks (its `voices()`; loads it once, like a call would)."""
    return get_tts().voices()


def not_loaded() -> list[str]:
    """Providers not in memory yet (readiness: the first call would wait for these)."""
    return sorted(name for name in DEFAULTS if name not in _instances)


def warm_up() -> None:
    """Load all providers and run each once, so the first caller does not wait for model loads."""

    started = time.perf_counter()
    vad = get_vad()
    vad.is_speech(np.zeros(160, dtype=np.int16))
    tts = get_tts()
    audio = tts.synthesize("Hello.")
    get_stt().transcribe(audio, tts.sample_rate)
    get_turn_detector().complete_probability(audio[: tts.sample_rate // 2])
    logger.info("Speech stack warm in %.2fs", time.perf_counter() - started)
