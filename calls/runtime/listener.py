"""Caller audio → turns: end-pointing on the call clock, and speech-to-text started during the
pause, so the transcript is usually ready when the turn is over."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from agents.speech.base import STT
from agents.speech.endpointer import (
    Endpointer,
    EndpointEvent,
    SpeechCancelled,
    SpeechPaused,
    SpeechStarted,
    UtteranceEnded,
)
from calls.runtime.clock import CallClock
from stellar.kernel.audio import FRAME_BYTES, FRAME_MS, PHONE_RATE, ulaw_to_pcm16


@dataclass(frozen=True, eq=False)
class EndOfTurn:
    """The caller finished an utterance, stamped on the call clock when the end-pointer said so."""

    utterance: UtteranceEnded
    epoch: int  # the listener's speech epoch then: if it moved on, the caller went on talking
    endpointed_ms: int
    voice_ended_ms: int  # `endpointed_ms` minus the caller audio after the last voiced frame


Heard = SpeechStarted | SpeechPaused | SpeechCancelled | EndOfTurn


class Listener:
    def __init__(
        self,
        *,
        endpointer: Endpointer,
        stt: Callable[[], STT],
        prompt: str | None,
        clock: CallClock,
        executor: Executor,
    ) -> None:
        self._endpointer = endpointer
        self._stt = stt
        self._prompt = prompt  # the agent's vocabulary, to steer recognition
        self._clock = clock
        self._executor = executor
        self.in_ms = 0  # call-clock time of the next inbound frame
        self.epoch = 0  # +1 each time the caller starts speaking
        self._speculative: tuple[int, asyncio.Future[str]] | None = None

    @property
    def in_speech(self) -> bool:
        return self._endpointer.in_speech

    def hear(self, ulaw: bytes) -> list[Heard]:
        """Feed a media payload frame by frame; what the end-pointer noticed, in order."""
        pcm = ulaw_to_pcm16(ulaw)
        heard: list[Heard] = []
        for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            for event in self._endpointer.feed(pcm[i : i + FRAME_BYTES], self.in_ms):
                heard.append(self._noticed(event))
            self.in_ms += FRAME_MS
        return heard

    def _noticed(self, event: EndpointEvent) -> Heard:
        if isinstance(event, SpeechStarted):
            self.epoch += 1
        elif isinstance(event, SpeechPaused):
            self._start_speculative_stt(event.audio)
        elif isinstance(event, UtteranceEnded):
            # On the call clock: now, minus the caller audio that followed the last voiced frame.
            now = self._clock.ms()
            voice_ended = now - (self.in_ms + FRAME_MS - event.end_ms)
            return EndOfTurn(event, self.epoch, now, voice_ended)
        return event

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
