"""The agent's voice: text rendered with the TTS (the render cache first), paced out to the stream
as 20 ms frames with a mark per utterance, and `clear`ed when the caller barges in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor

from django.conf import settings

from agents.engine.sentences import split_sentences
from calls.runtime.clock import CallClock
from calls.runtime.outbound import FrameSink, PacedSender, Send, Utterance
from calls.runtime.speech_render import PRERENDER_POOL, SPEECH_POOL, SpeechRenderer
from stellar.kernel import metrics

logger = logging.getLogger(__name__)

LineCut = Callable[[str, int, int], None]  # (utterance kind, characters asked, characters kept)


def cut_at_sentence(text: str, limit: int) -> str:
    """At most `limit` characters of `text`: whole sentences where one fits, else whole words."""
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in split_sentences(text[: limit + 1])[:-1]:  # the last runs past the limit
        longer = f"{kept} {sentence}".strip()
        if len(longer) > limit:
            break
        kept = longer
    if kept:
        return kept
    head = text[: limit + 1]  # a word that ends right at the limit is whole
    return head.rsplit(" ", 1)[0] if " " in head else text[:limit]


def _sentence_ends(said: str, text: str) -> list[int]:
    """Where each sentence of `text`, the end of `said`, ends in `said` (the last: its end)."""
    start = len(said) - len(text)
    ends, at = [], start
    for sentence in split_sentences(text)[:-1]:
        found = said.find(sentence, at)
        if found < 0:
            break
        at = found + len(sentence)
        ends.append(at)
    return [*ends, len(said)]


class AgentSpeaker:
    def __init__(
        self,
        *,
        send: Send,
        clock: CallClock,
        renderer: SpeechRenderer,
        voice: str | None,
        executor: Executor = SPEECH_POOL,
        prerender_executor: Executor = PRERENDER_POOL,
        max_chars: int | None = None,
        on_cut: LineCut | None = None,
    ) -> None:
        self._send = send
        self._clock = clock
        self._renderer = renderer
        self.voice = voice
        self._executor = executor
        self._prerender_executor = prerender_executor
        self._max_chars = settings.STELLAR_MAX_SAY_CHARS if max_chars is None else max_chars
        self._on_cut = on_cut  # the timeline note
        self._sender: PacedSender | None = None
        self.stream_sid = ""

    def start(self, stream_sid: str, on_frame: FrameSink) -> None:
        """The stream is open: `play()` sends from now on; `on_frame` sees each frame sent."""
        self.stream_sid = stream_sid
        self._sender = PacedSender(
            send=self._send, stream_sid=stream_sid, clock_ms=self._clock.ms, on_frame=on_frame
        )

    async def play(self) -> None:
        """Send what is said, paced, until cancelled (a task of the call)."""
        assert self._sender is not None, "start() first"
        await self._sender.run()

    @property
    def started(self) -> bool:
        return self._sender is not None

    @property
    def speaking(self) -> bool:
        return self._sender is not None and self._sender.speaking

    def say(self, utt: Utterance) -> None:
        """Queue an utterance; its frames may keep arriving (`render_into`) while it plays."""
        assert self._sender is not None, "start() first"
        self._sender.say(utt)

    async def render_into(self, utt: Utterance, text: str) -> None:
        """Feed `text` into the utterance as it renders: cached lines at once, others sentence
        by sentence from the TTS thread. An utterance stops at STELLAR_MAX_SAY_CHARS characters
        (a 1 MB API response is not read out for hours): cut at a sentence, and noted."""
        text = self._within_cap(utt, text)
        if not text:
            return
        utt.text = f"{utt.text} {text}".strip()
        found = self._renderer.cached(text, self.voice)
        if found is not None:
            utt.feed(list(found))
            utt.spoken(len(utt.text))
            return
        loop = asyncio.get_running_loop()
        # The TTS hands over one chunk per sentence: where each ends in the utterance's text,
        # so a cut answer's transcript keeps the sentences that played.
        ends = _sentence_ends(utt.text, text)
        chunks = iter(ends)

        def fed(frames: list[bytes]) -> None:
            utt.feed(frames)
            utt.spoken(next(chunks, ends[-1]))

        def feed(frames: list[bytes]) -> None:
            loop.call_soon_threadsafe(fed, frames)

        await loop.run_in_executor(
            self._executor, self._renderer.render_stream, text, self.voice, feed
        )

    def _within_cap(self, utt: Utterance, text: str) -> str:
        room = self._max_chars - len(utt.text) - (1 if utt.text else 0)
        if len(text) <= room:
            return text
        if room <= 0:
            return ""  # already at the cap: noted when the line reached it
        kept = cut_at_sentence(text, room)
        metrics.CALL_LIMITS.labels("say_chars").inc()
        logger.warning(
            "a %s line of %d characters was cut to %d (STELLAR_MAX_SAY_CHARS)",
            utt.kind,
            len(text),
            len(kept),
        )
        if self._on_cut is not None:
            self._on_cut(utt.kind, len(text), len(kept))
        return kept

    async def say_line(self, text: str, *, kind: str, end_call: bool = False) -> Utterance:
        """One whole line as its own utterance (greeting, error, take-over)."""
        utt = Utterance(text="", end_call=end_call, kind=kind)
        self.say(utt)
        await self.render_into(utt, text)
        utt.finish()
        return utt

    def say_cached(self, text: str, *, kind: str) -> Utterance | None:
        """Say a line only if it is rendered already (the holding line: never waits for TTS)."""
        found = self._renderer.cached(text, self.voice)
        if found is None:
            return None
        utt = Utterance(text=text.strip(), frames=list(found), kind=kind)
        utt.finish()
        self.say(utt)
        return utt

    async def clear(self) -> list[Utterance]:
        """Barge-in: drop what has not played and tell the stream to; the utterances cut."""
        assert self._sender is not None, "start() first"
        cut = self._sender.clear()
        if cut:
            await self._send({"event": "clear", "streamSid": self.stream_sid})
        return cut

    def stop(self) -> list[Utterance]:
        """The call ended: nothing more plays (the stream is gone, so no `clear` is sent); the
        utterances cut, each knowing how much of it was heard."""
        return [] if self._sender is None else self._sender.clear()

    def mark_received(self, name: str) -> Utterance | None:
        """The stream played up to this mark: the utterance that finished, if it was ours."""
        return None if self._sender is None else self._sender.mark_received(name)

    def prerender(self, lines: list[str]) -> None:
        """Render these lines in the background so they play at once when said."""
        self._prerender_executor.submit(self._renderer.prerender, lines, self.voice)
