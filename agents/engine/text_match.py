"""Lexical similarity for the embedded brain: normalised token overlap with light stemming."""

from __future__ import annotations

import math
import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9']+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "to",
        "of",
        "and",
        "or",
        "in",
        "on",
        "at",
        "for",
        "is",
        "are",
        "was",
        "be",
        "can",
        "could",
        "would",
        "please",
        "hi",
        "hello",
        "hey",
        "um",
        "uh",
        "like",
        "just",
        "want",
        "wanna",
        "need",
        "do",
        "does",
        "it",
        "this",
        "that",
        "with",
        "about",
        "so",
        "im",
        "i'm",
        "id",
        "i'd",
        "some",
        "any",
        "get",
    ]
)


def stem(word: str) -> str:
    for suffix in ("ing", "ers", "ies", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def tokens(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class Matcher:
    """TF-IDF cosine between an utterance and labelled example texts."""

    def __init__(self, examples: list[tuple[str, str]]):
        self.labels = [label for label, _ in examples]
        docs = [Counter(tokens(text)) for _, text in examples]
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(doc.keys())
        n = max(1, len(docs))
        self.idf = {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in df.items()}
        self.vectors = [self._weigh(doc) for doc in docs]

    def _weigh(self, counts: Counter[str]) -> dict[str, float]:
        vec = {t: c * self.idf.get(t, 1.0) for t, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    def scores(self, text: str) -> dict[str, float]:
        """Each label's best cosine (TF-IDF) against the utterance."""
        query = self._weigh(Counter(tokens(text)))
        best: dict[str, float] = {}
        for label, vec in zip(self.labels, self.vectors, strict=True):
            score = sum(w * vec.get(t, 0.0) for t, w in query.items())
            best[label] = max(best.get(label, 0.0), score)
        return best

    def best(self, text: str) -> tuple[str | None, float]:
        scores = {k: v for k, v in self.scores(text).items() if v > 0}
        if not scores:
            return None, 0.0
        label = max(scores, key=scores.__getitem__)
        return label, scores[label]


class SemanticMatcher:
    """Cosine similarity of sentence embeddings: paraphrases match, not just shared words.

    A label scores its best example; the lexical TF-IDF score of the same label is added with
    a small weight, so an exact keyword (a product name) still tips a close call.
    """

    LEXICAL_WEIGHT = 0.25

    def __init__(self, examples: list[tuple[str, str]]):
        self._examples = [(label, text) for label, text in examples if text.strip()]
        self._lexical = Matcher(self._examples)
        self._labels = [label for label, _ in self._examples]
        self._vectors = None  # embedded on first use, off the event loop (see Conversation)

    def scores(self, text: str) -> dict[str, float]:
        """Blocking (model inference): call it from a worker thread in async code."""
        from .embeddings import get_embedder

        if not self._examples:
            return {}
        embedder = get_embedder()
        if self._vectors is None:
            self._vectors = embedder.embed([example for _, example in self._examples])
        similarity = self._vectors @ embedder.embed([text])[0]
        best: dict[str, float] = {}
        for label, value in zip(self._labels, similarity, strict=True):
            best[label] = max(best.get(label, -1.0), float(value))
        lexical = self._lexical.scores(text)
        return {
            label: value + self.LEXICAL_WEIGHT * lexical.get(label, 0.0)
            for label, value in best.items()
        }

    def best(self, text: str) -> tuple[str | None, float]:
        scores = self.scores(text)
        if not scores:
            return None, 0.0
        label = max(scores, key=scores.__getitem__)
        return label, scores[label]
