"""Whisper-style log-mel features in numpy (what Smart Turn v3 was trained on), so the turn
detector needs neither torch nor transformers.

Same recipe as Whisper's feature extractor (16 kHz, 25 ms Hann window, 10 ms hop, 80 Slaney mel
bands, log10, clamp to 8 decades below the peak, scale to about [-1, 1]), with the waveform
normalised to zero mean / unit variance first as Smart Turn expects.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
WINDOW_SECONDS = 8
WINDOW_SAMPLES = RATE * WINDOW_SECONDS  # 128 000: the model's fixed input length


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = 3.0 * hz / 200.0
    log = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = 200.0 * mel / 3.0
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


def _mel_filters() -> np.ndarray:
    """(n_fft/2+1, 80) triangular filters with Slaney area normalisation."""
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(RATE / 2)), N_MELS + 2)
    )
    bins = np.linspace(0, RATE // 2, N_FFT // 2 + 1)
    slopes = edges[None, :] - bins[:, None]
    widths = np.diff(edges)
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters: np.ndarray = np.maximum(0.0, np.minimum(down, up))
    normalised: np.ndarray = filters * (2.0 / (edges[2:] - edges[:-2]))[None, :]
    return normalised


_FILTERS_T = _mel_filters().T  # (80, 201)
_WINDOW = np.hanning(N_FFT + 1)[:-1]  # periodic Hann


def log_mel(audio_16k: np.ndarray) -> np.ndarray:
    """(80, 800) float32 features of exactly WINDOW_SAMPLES float samples at 16 kHz."""
    x = np.asarray(audio_16k, dtype=np.float32)
    if x.shape != (WINDOW_SAMPLES,):
        raise ValueError(f"expected {WINDOW_SAMPLES} samples, got {x.shape}")
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=-1)) ** 2  # (801, 201)
    mel = np.log10(np.maximum(_FILTERS_T @ power.T, 1e-10))[:, :-1]
    mel = np.maximum(mel, mel.max() - 8.0)
    features: np.ndarray = ((mel + 4.0) / 4.0).astype(np.float32)
    return features
