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

    def best(self, text: str) -> tuple[str | None, float]:
        query = self._weigh(Counter(tokens(text)))
        best_label, best_score = None, 0.0
        for label, vec in zip(self.labels, self.vectors, strict=True):
            score = sum(w * vec.get(t, 0.0) for t, w in query.items())
            if score > best_score:
                best_label, best_score = label, score
        return best_label, best_score
