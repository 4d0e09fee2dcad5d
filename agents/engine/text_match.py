"""Matching what the caller said against the agent's own phrases: sentence-embedding cosine,
after light normalisation of speech-style text (hesitations, informal contractions, and
misspellings of words the agent's configuration uses: "my door bell is brocken" → "… broken")."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with the embedder, on first use
    import numpy as np

INFORMAL = {
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "got to",
    "kinda": "kind of",
    "dunno": "don't know",
}
HESITATIONS = frozenset(["uh", "uhm", "um", "umm", "er", "erm", "ah", "hmm", "mm"])
_DISCOURSE_LIKE = re.compile(r",\s*like,", re.IGNORECASE)  # "it is, like, dead"
SPELLING_CUTOFF = 0.8  # difflib ratio: "brocken" → "broken" 0.92, "by" is never touched
_WORD = re.compile(r"[a-z]+")


class SemanticMatcher:
    """Cosine similarity of sentence embeddings (all-MiniLM-L6-v2): paraphrases match, not
    just shared words. A label scores its best example.

    (A TF-IDF keyword score blended in used to cost more than it gave: shared generic words
    such as "order" or "where" pulled callers to the wrong outcome; see benchmarks/eval_set.)
    """

    def __init__(self, examples: list[tuple[str, str]]) -> None:
        self._examples = [(label, text) for label, text in examples if text.strip()]
        self._labels = [label for label, _ in self._examples]
        self._vocabulary = sorted(
            {w for _, text in self._examples for w in _WORD.findall(text.lower()) if len(w) > 2}
        )
        # Embedded on first use, off the event loop (see Conversation).
        self._vectors: np.ndarray | None = None
        self._words: dict[str, np.ndarray] = {}  # label → its examples' topic-word vectors

    def normalize(self, text: str, known: Callable[[str], bool]) -> str:
        """Hesitations dropped, informal contractions spelled out; a word the model's vocabulary
        does not know is replaced by the closest word of the agent's configuration, if one is
        close enough."""
        out: list[str] = []
        for word in _DISCOURSE_LIKE.sub(",", text).split():
            core = word.lower().strip(",.?!;:")
            if core in HESITATIONS:
                continue
            if core in INFORMAL:
                out.append(INFORMAL[core])
            elif core.isalpha() and len(core) >= 4 and not known(core):
                close = difflib.get_close_matches(
                    core, self._vocabulary, n=1, cutoff=SPELLING_CUTOFF
                )
                out.append(close[0] if close else word)
            else:
                out.append(word)
        return " ".join(out)

    def scores(self, text: str) -> dict[str, float]:
        """Blocking (model inference): call it from a worker thread in async code."""
        from agents.engine.embeddings import get_embedder  # onnxruntime: on first use

        if not self._examples:
            return {}
        embedder = get_embedder()
        self._prepare()
        assert self._vectors is not None
        query = self.normalize(text, embedder.knows)
        similarity = self._vectors @ embedder.embed([query])[0]
        best: dict[str, float] = {}
        for label, value in zip(self._labels, similarity, strict=True):
            best[label] = max(best.get(label, -1.0), float(value))
        return best

    def _prepare(self) -> None:
        """The examples' sentence vectors and each label's word vectors, once (blocking)."""
        import numpy  # with the embedder, on first use

        from agents.engine.embeddings import get_embedder

        if self._vectors is not None:
            return
        encoded = get_embedder().encode([example for _, example in self._examples])
        words: dict[str, list[np.ndarray]] = {}
        for label, item in zip(self._labels, encoded, strict=True):
            words.setdefault(label, []).append(item.word_vectors)  # every word, "where" too
        self._words = {
            label: numpy.concatenate(parts).astype(numpy.float32) for label, parts in words.items()
        }
        self._vectors = numpy.stack([item.vector for item in encoded])

    def word_cover(self, text: str) -> dict[str, np.ndarray]:
        """For each label, the best cosine of each of the caller's topic words to any word of
        the label's examples (contextual word vectors). Blocking (model inference)."""
        from agents.engine.embeddings import get_embedder

        embedder = get_embedder()
        self._prepare()
        query = embedder.encode([self.normalize(text, embedder.knows)])[0].topic_vectors
        return {
            label: (query @ words.T).max(axis=1)
            for label, words in self._words.items()
            if len(words)
        }

    def coverage(self, text: str, label: str) -> float:
        """How much of what the caller talks about the label's own phrases talk about too: the
        mean, over the caller's topic words, of the best cosine to any word of the label's
        examples (contextual word vectors; BERTScore recall). "do you sell new cars" fits a
        courtesy-car answer as a sentence, but "sell" and "new" find no match in it.
        Blocking (model inference)."""
        from agents.engine.embeddings import get_embedder

        embedder = get_embedder()
        self._prepare()
        query = embedder.encode([self.normalize(text, embedder.knows)])[0].topic_vectors
        words = self._words.get(label)
        if words is None or not len(words) or not len(query):
            return 1.0
        return float((query @ words.T).max(axis=1).mean())
