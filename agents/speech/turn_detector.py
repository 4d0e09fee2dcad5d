"""Semantic end-of-turn: does the caller's audio so far sound like a finished turn?

Smart Turn v3.2 (int8 ONNX, 8.7 MB, BSD-2, bundled in agents/speech/models/) listens to the last
8 s of the utterance, trailing pause included, and answers with the probability that the speaker
is done: falling intonation and a complete phrase score high; "I would like to, um…" scores
low. About 60 ms of one CPU core per decision (features ≈ 5 ms of it; measured by
benchmarks/turntaking), so it is asked at most twice per pause, never per frame, and always
off the event loop.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from agents.speech.base import TurnDetector
from agents.speech.log_mel import RATE, WINDOW_SAMPLES, log_mel
from stellar.kernel.audio import PHONE_RATE, resample

MODEL_PATH = Path(__file__).resolve().parent / "models" / "smart-turn-v3.2-cpu.onnx"
SMART_TURN_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"


class SmartTurnDetector(TurnDetector):
    """Smart Turn v3.2 on onnxruntime, one intra-op thread (calls share the cores)."""

    def __init__(self, model_path: Path = MODEL_PATH, *, threads: int = 1) -> None:
        """Load the model once per process (≈ 0.2 s), after checking it is the expected file."""
        data = model_path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if model_path == MODEL_PATH and digest != SMART_TURN_SHA256:
            raise RuntimeError(f"{model_path} is not the bundled Smart Turn v3.2 (sha256 {digest})")
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(data, sess_options=options)
        self._lock = threading.Lock()
        self.decisions = 0  # how many times it was asked, and the CPU it took (for /metrics, bench)
        self.cpu_seconds = 0.0

    def complete_probability(self, pcm16_8k: np.ndarray) -> float:
        """Score the last 8 s (zero-padded in front when shorter, as the model was trained)."""
        started = time.thread_time()
        tail = np.asarray(pcm16_8k, dtype=np.int16)[-WINDOW_SECONDS_8K:]
        audio = resample(tail, PHONE_RATE, RATE).astype(np.float32) / 32768.0
        window = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
        if len(audio):
            window[-len(audio) :] = audio[-WINDOW_SAMPLES:]
        features = log_mel(window)[None, :, :]
        outputs = self._session.run(None, {"input_features": features})
        probability = float(np.asarray(outputs[0]).reshape(-1)[0])
        with self._lock:
            self.decisions += 1
            self.cpu_seconds += time.thread_time() - started
        return probability


WINDOW_SECONDS_8K = PHONE_RATE * WINDOW_SAMPLES // RATE  # 8 s at the phone rate
