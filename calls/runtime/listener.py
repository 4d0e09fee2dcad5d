"""Caller audio → turns: end-pointing on the call clock, and speech-to-text started during the
pause, so the transcript is usually ready when the turn is over.

With a turn detector (the agent's `turn_detection = "smart"`), every pause is also scored by it
off the event loop; when the score and the partial transcript say the turn is complete, the
turn ends there (≈ 0.2-0.3 s into the pause) instead of at the end-pointer's silence cap. The
verdicts are polled frame by frame, so `hear` stays synchronous and events stay in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from agents.speech.backchannel import BargeInJudge
from agents.speech.base import STT, TurnDetector
from agents.speech.endpointer import (
    Endpointer,
    EndpointEvent,
    SpeechCancelled,
    SpeechPaused,
    SpeechStarted,
    UtteranceEnded,
)
from agents.speech.line_quality import LineQualityMeter
from agents.speech.turn_policy import DEFAULT_POLICY, TurnPolicy
from calls.runtime.clock import CallClock
from stellar.kernel.audio import FRAME_BYTES, FRAME_MS, PHONE_RATE, ulaw_to_pcm16

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class EndOfTurn:
    """The caller finished an utterance, stamped on the call clock when the end-pointer said so."""

    utterance: UtteranceEnded
    epoch: int  # the listener's speech epoch then: if it moved on, the caller went on talking
    endpointed_ms: int
    voice_ended_ms: int  # `endpointed_ms` minus the caller audio after the last voiced frame
    detector: str = "silence"  # what ended it: "smart" (turn detector) or "silence" (the cap)
    complete_probability: float | None = None  # the turn detector's last score, if asked
    # Whether the barge-in judge heard real speech in it (False: a backchannel, cough or noise).
    confirmed: bool = True


@dataclass(frozen=True, slots=True)
class SpeechConfirmed:
    """The speech that started at `start_ms` is sustained, voiced and loud: a real turn (or
    interruption), not a backchannel or noise. Noticed at `t_ms`; at most once per epoch."""

    start_ms: int
    t_ms: int


Heard = SpeechStarted | SpeechPaused | SpeechCancelled | SpeechConfirmed | EndOfTurn


@dataclass(eq=False)
class _Verdict:
    """The turn detector's pending or known opinion of the current pause."""

    score: asyncio.Future[float]
    text: asyncio.Future[str] | None  # the speculative transcript of the same audio
    paused_ms: int  # stream time the pause was announced
    rechecked: bool = False
    probability: float | None = None


class Listener:
    def __init__(
        self,
        *,
        endpointer: Endpointer,
        stt: Callable[[], STT],
        prompt: str | None,
        clock: CallClock,
        executor: Executor,
        turn_detector: Callable[[], TurnDetector] | None = None,
        turn_executor: Executor | None = None,
        policy: TurnPolicy = DEFAULT_POLICY,
        judge: BargeInJudge | None = None,
    ) -> None:
        self._endpointer = endpointer
        self._turn_detector = turn_detector  # None: the fixed silence alone ends turns
        # Its own thread(s) when given: a 60 ms verdict must not queue behind a second of STT.
        self._turn_executor = turn_executor or executor
        self._policy = policy
        self._verdict: _Verdict | None = None
        self._last_probability: float | None = None
        self.judge = judge or BargeInJudge()
        self._onset_ms = 0
        self._confirmed_epoch = 0  # the last epoch the judge confirmed as real speech
        self._stt = stt
        self._prompt = prompt  # the agent's vocabulary, to steer recognition
        self._clock = clock
        self._executor = executor
        self.in_ms = 0  # call-clock time of the next inbound frame
        self.epoch = 0  # +1 each time the caller starts speaking
        self._speculative: tuple[int, asyncio.Future[str]] | None = None
        self.line = LineQualityMeter()  # the stream's level, clipping, noise and packet gaps

    @property
    def in_speech(self) -> bool:
        return self._endpointer.in_speech

    def hear(self, ulaw: bytes, timestamp_ms: int | None = None) -> list[Heard]:
        """Feed a media payload frame by frame; what the end-pointer noticed, the barge-in
        judge's SpeechConfirmed and the turn detector's ends of turn, in order. `timestamp_ms`:
        the payload's media timestamp, if any (the line meter finds lost packets by it)."""
        pcm = ulaw_to_pcm16(ulaw)
        heard: list[Heard] = []
        for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            frame = pcm[i : i + FRAME_BYTES]
            at = None if timestamp_ms is None else timestamp_ms + i // FRAME_BYTES * FRAME_MS
            self.line.feed(frame, voiced=self._endpointer.in_speech, timestamp_ms=at)
            judging = self._endpointer.in_speech and self._confirmed_epoch != self.epoch
            for event in self._endpointer.feed(frame, self.in_ms):
                heard.extend(self._noticed(event))
            if judging and self._endpointer.in_speech and self.judge.feed(frame):
                heard.append(self._confirm())
            if self._verdict is not None:
                heard.extend(self._poll_verdict())
            self.in_ms += FRAME_MS
        return heard

    def _confirm(self) -> SpeechConfirmed:
        self._confirmed_epoch = self.epoch
        return SpeechConfirmed(self._onset_ms, self.in_ms + FRAME_MS)

    def _noticed(self, event: EndpointEvent) -> list[Heard]:
        if isinstance(event, SpeechStarted):
            self.epoch += 1
            self._onset_ms = event.t_ms
            self._verdict = None
            so_far = self._endpointer.audio_so_far()  # pre-roll + the voiced run that started
            cut = max(0, len(so_far) - (self.in_ms + FRAME_MS - event.t_ms) * 8)
            if self.judge.start(so_far[cut:], before=so_far[:cut]):
                return [event, self._confirm()]
        elif isinstance(event, SpeechPaused):
            score = self._score(event.audio) if self._turn_detector is not None else None
            self._start_speculative_stt(event.audio)
            if score is not None:
                text = self._speculative[1] if self._speculative is not None else None
                self._verdict = _Verdict(score, text, event.t_ms)
        elif isinstance(event, SpeechCancelled):
            self.judge.stop()
        elif isinstance(event, UtteranceEnded):
            self._verdict = None
            return [self._end_of_turn(event, "silence")]
        return [event]

    def _end_of_turn(self, event: UtteranceEnded, detector: str) -> EndOfTurn:
        # On the call clock: now, minus the caller audio that followed the last voiced frame.
        now = self._clock.ms()
        voice_ended = now - (self.in_ms + FRAME_MS - event.end_ms)
        confirmed = self._confirmed_epoch == self.epoch
        self.judge.stop()
        if confirmed and event.reason != "max_length":
            self.judge.learn(event.audio)
        probability, self._last_probability = self._last_probability, None
        return EndOfTurn(event, self.epoch, now, voice_ended, detector, probability, confirmed)

    def _score(self, audio: np.ndarray) -> asyncio.Future[float]:
        assert self._turn_detector is not None
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(
            self._turn_executor, self._turn_detector().complete_probability, audio
        )

    def _poll_verdict(self) -> list[Heard]:
        """End the turn if the detector's verdict on this pause is in and says complete."""
        verdict = self._verdict
        assert verdict is not None
        if not self._endpointer.paused:
            verdict.score.cancel()  # the caller went on: this pause is not an end
            self._verdict = None
            return []
        if verdict.probability is None:
            if not verdict.score.done():
                return []
            try:
                verdict.probability = verdict.score.result()
            except Exception:  # a failing model must not end (or stall) the call: cap decides
                logger.exception("turn detector failed; the silence cap ends this turn")
                self._verdict = None
                return []
            self._last_probability = verdict.probability
        if verdict.probability < self._policy.threshold:
            silence = self.in_ms + FRAME_MS - verdict.paused_ms + self._endpointer.config.pause_ms
            if not verdict.rechecked and silence >= self._policy.recheck_ms:
                verdict.rechecked = True
                verdict.probability = None
                verdict.score = self._score(self._endpointer.audio_so_far())
            return []
        text: str | None = None
        if self._policy.use_transcript and verdict.text is not None:
            if not verdict.text.done():
                return []
            failed = verdict.text.cancelled() or verdict.text.exception() is not None
            text = "" if failed else verdict.text.result()
        if not self._policy.complete(verdict.probability, text):
            return []  # e.g. a digit group: wait for more, or for the cap
        self._verdict = None
        ended = self._endpointer.end_turn()
        return [self._end_of_turn(ended, "smart")] if ended is not None else []

    def _run_stt(self, audio: np.ndarray) -> asyncio.Future[str]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(
            self._executor, self._stt().transcribe, audio, PHONE_RATE, self._prompt
        )

    def _start_speculative_stt(self, audio: np.ndarray) -> None:
        """Transcribe during the trailing silence; reused if the caller stays silent."""
        if self._speculative is not None:
            self._speculative[1].cancel()  # an earlier pause the caller talked through
        self._speculative = (len(audio), self._run_stt(audio))

    def has_speculative(self, utterance: UtteranceEnded) -> bool:
        """The transcription started during the pause covers exactly this utterance."""
        return self._speculative is not None and self._speculative[0] == len(utterance.audio)

    async def transcribe(self, utterance: UtteranceEnded) -> str:
        audio = np.asarray(utterance.audio, dtype=np.int16)
        if self._speculative is not None and self._speculative[0] == len(audio):
            future = self._speculative[1]
        else:
            if self._speculative is not None:
                self._speculative[1].cancel()
            future = self._run_stt(audio)
        self._speculative = None
        return ((await future) or "").strip()
