"""Streaming end-pointer: turns a call's 20 ms frames into utterances, cheaply and predictably.

One instance per audio stream. Feed every inbound frame in order; act on the returned events:

* `SpeechStarted`  — the caller has been speaking for `speech_start_ms`: stop talking (barge-in).
* `SpeechPaused`   — trailing silence reached `pause_ms`: transcribe `audio` speculatively. If the
  caller stays silent, the following `UtteranceEnded.audio` is exactly the same samples, so the
  speculative transcript can be reused as is.
* `UtteranceEnded` — the turn is over (`reason="silence"`), a turn detector said so during the
  pause (`reason="smart"`, see `end_turn`), or it was cut at `max_utterance_ms`
  (`reason="max_length"`; the monologue continues as a new utterance with its own SpeechStarted).
* `SpeechCancelled` — what started was a blip shorter than `min_utterance_ms`: no utterance
  follows, so resume whatever the SpeechStarted interrupted.

Every SpeechStarted is followed by exactly one UtteranceEnded or SpeechCancelled.
All times are stream milliseconds as passed to `feed` (`t_ms` = start of that frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from agents.speech.base import VAD
from stellar.kernel.audio import PHONE_RATE

_SAMPLES_PER_MS = PHONE_RATE // 1000  # 8


@dataclass
class EndpointerConfig:
    """Timing knobs, in milliseconds."""

    speech_start_ms: int = 60  # voiced run needed before SpeechStarted (debounces clicks)
    end_silence_ms: int = 500  # trailing silence that ends a turn
    max_utterance_ms: int = 15000  # longer monologues are cut here (pre-roll included)
    pre_roll_ms: int = 200  # audio kept from before the detected onset
    min_utterance_ms: int = 200  # voiced span below this is noise, not an utterance
    pause_ms: int = 200  # trailing silence that triggers SpeechPaused (and the kept tail)
    # Mid-utterance, a "voiced" frame this many dB below the loudest frame so far counts as
    # silence. WebRTC VAD keeps saying "speech" for ~200 ms after speech stops (hangover) and
    # for faint line noise; without this every turn would end that much later. 0 disables.
    trailing_floor_db: float = 40.0


# What calls use: transcribe speculatively 120 ms into a pause, so the text is ready when the
# 500 ms end-of-turn silence is confirmed (Whisper needs ≈ 0.15-0.2 s for a phone turn, see
# speech/stt.py). A pause the caller talks through cancels its transcription if it has not
# started yet.
CALL_ENDPOINTING = EndpointerConfig(pause_ms=120, end_silence_ms=500)

# With a semantic turn detector (agents.speech.turn_policy) the pause is where it is asked, and
# the silence that ends a turn regardless is only the cap for turns it judged unfinished.
SMART_CALL_ENDPOINTING = EndpointerConfig(pause_ms=120, end_silence_ms=1100)


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started speaking at `t_ms` (first voiced frame of the onset run)."""

    t_ms: int


@dataclass(frozen=True, slots=True, eq=False)
class SpeechPaused:
    """Trailing silence reached pause_ms at `t_ms`; `audio` = the utterance so far (8 kHz int16)."""

    t_ms: int
    audio: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class UtteranceEnded:
    """A finished utterance.

    `start_ms` includes the pre-roll; `end_ms` is where voiced speech stopped (silence) or the
    cut point (max_length). `audio` runs from start_ms to end_ms plus up to pause_ms of trailing
    silence (for "silence"), as int16 at 8 kHz.
    """

    start_ms: int
    end_ms: int
    audio: np.ndarray
    reason: Literal["silence", "max_length", "smart"]


@dataclass(frozen=True, slots=True)
class SpeechCancelled:
    """The speech announced at `start_ms` was a blip; no utterance follows (noticed at `t_ms`)."""

    start_ms: int
    t_ms: int


EndpointEvent = SpeechStarted | SpeechPaused | UtteranceEnded | SpeechCancelled

_IDLE = 0
_SPEECH = 1


class Endpointer:
    """Per-stream state machine over VAD decisions; no I/O, no allocation on quiet frames."""

    def __init__(self, vad: VAD, config: EndpointerConfig | None = None) -> None:
        """Bind a detector (a fresh per-stream copy when the provider is stateful) and config."""
        new_stream = getattr(vad, "new_stream", None)
        self._vad: VAD = new_stream() if callable(new_stream) else vad
        self.config = cfg = config or EndpointerConfig()
        spm = _SAMPLES_PER_MS
        self._start_n = cfg.speech_start_ms * spm
        self._end_n = cfg.end_silence_ms * spm
        self._max_n = max(cfg.max_utterance_ms * spm, 1)
        self._pre_n = cfg.pre_roll_ms * spm
        self._pause_n = cfg.pause_ms * spm
        self._min_ms = cfg.min_utterance_ms
        self._floor_ratio = 10 ** (cfg.trailing_floor_db / 20) if cfg.trailing_floor_db else 0.0
        # One preallocated buffer holds the pre-roll while idle and the utterance while speaking.
        self._buf = np.zeros(self._max_n + self._pre_n + self._start_n + 960, dtype=np.int16)
        self.reset()

    def reset(self) -> None:
        """Forget any partial utterance (e.g. after the call is transferred or re-synced)."""
        self._state = _IDLE
        self._pos = 0  # samples written to _buf
        self._run_n = 0  # idle: length of the current voiced run
        self._run_pos = 0  # idle: buffer position where that run started
        self._run_t = 0  # idle: stream time where that run started
        self._start_t = 0  # speech: utterance start (pre-roll included), ms
        self._onset_t = 0  # speech: first voiced frame, ms
        self._end_pos = 0  # speech: buffer position just after the last voiced frame
        self._end_t = 0  # speech: stream time just after the last voiced frame
        self._paused = False  # speech: SpeechPaused already sent for this silence run
        self._loudest = 0  # speech: highest frame peak so far

    @property
    def in_speech(self) -> bool:
        """True between SpeechStarted and its UtteranceEnded/SpeechCancelled."""
        return self._state == _SPEECH

    @property
    def paused(self) -> bool:
        """In speech, and the pause announced by the last SpeechPaused is still going on."""
        return self._state == _SPEECH and self._paused

    def audio_so_far(self) -> np.ndarray:
        """A copy of the current utterance, trailing silence included (empty when idle)."""
        return self._buf[: self._pos].copy() if self._state == _SPEECH else self._buf[:0].copy()

    def end_turn(self) -> UtteranceEnded | None:
        """End the utterance now because a turn detector judged the pause to be its end.

        Only during a pause that SpeechPaused announced (else None: the caller went on). The
        audio is cut like a silence end (voice + pause_ms), i.e. exactly the SpeechPaused audio
        when the pause began at pause_ms, so a speculative transcript of it stays valid.
        """
        if not self.paused:
            return None
        silence_n = self._pos - self._end_pos
        keep = self._end_pos + min(self._pause_n, silence_n)
        ended = UtteranceEnded(self._start_t, self._end_t, self._buf[:keep].copy(), "smart")
        self._to_idle(keep_n=self._pre_n)
        return ended

    def feed(self, frame: np.ndarray, t_ms: int) -> list[EndpointEvent]:
        """Consume one frame starting at `t_ms`; return the events it triggers (usually none)."""
        voiced = self._vad.is_speech(frame)
        n = frame.shape[0]
        frame_end_t = t_ms + n // _SAMPLES_PER_MS
        pos = self._pos
        if pos + n > self._buf.shape[0]:
            pos = self._make_room(n)
        self._buf[pos : pos + n] = frame
        self._pos = pos + n

        if self._state == _IDLE:
            if not voiced:
                self._run_n = 0
                return []
            if self._run_n == 0:
                self._run_pos = pos
                self._run_t = t_ms
            self._run_n += n
            if self._run_n < self._start_n:
                return []
            return [self._start_utterance(frame_end_t)]

        events: list[EndpointEvent] = []
        if voiced and self._floor_ratio:
            peak = max(int(frame.max()), -int(frame.min()))
            if peak > self._loudest:
                self._loudest = peak
            elif peak * self._floor_ratio < self._loudest:
                voiced = False  # VAD hangover or faint noise, not the caller still talking
        if voiced:
            self._end_pos = self._pos
            self._end_t = frame_end_t
            self._paused = False
        else:
            silence_n = self._pos - self._end_pos
            real = self._end_t - self._onset_t >= self._min_ms
            if real and not self._paused and silence_n >= self._pause_n:
                self._paused = True
                events.append(SpeechPaused(frame_end_t, self._buf[: self._pos].copy()))
            if silence_n >= self._end_n:
                if real:
                    keep = self._end_pos + min(self._pause_n, silence_n)
                    audio = self._buf[:keep].copy()
                    events.append(UtteranceEnded(self._start_t, self._end_t, audio, "silence"))
                else:
                    events.append(SpeechCancelled(self._onset_t, frame_end_t))
                self._to_idle(keep_n=self._pre_n)
                return events
        if self._pos >= self._max_n:
            audio = self._buf[: self._pos].copy()
            events.append(UtteranceEnded(self._start_t, frame_end_t, audio, "max_length"))
            self._to_idle(keep_n=0)  # the next frame starts the continuation: nothing lost
        return events

    def _start_utterance(self, frame_end_t: int) -> SpeechStarted:
        """Switch to speech, moving pre-roll + onset run to the front of the buffer."""
        keep_from = max(0, self._run_pos - self._pre_n)
        pre_n = self._run_pos - keep_from
        self._shift(keep_from)
        self._state = _SPEECH
        self._onset_t = self._run_t
        self._start_t = self._run_t - pre_n // _SAMPLES_PER_MS
        self._end_pos = self._pos
        self._end_t = frame_end_t
        self._paused = False
        self._run_n = 0
        onset = self._buf[self._run_pos : self._pos]
        self._loudest = max(int(onset.max()), -int(onset.min()))
        return SpeechStarted(self._run_t)

    def _to_idle(self, keep_n: int) -> None:
        """Back to listening, keeping the last `keep_n` samples as pre-roll for the next onset."""
        self._shift(max(0, self._pos - keep_n))
        self._state = _IDLE
        self._run_n = 0

    def _make_room(self, n: int) -> int:
        """Idle buffer full: keep only pre-roll + current run; grow if frames are oversized."""
        if self._state == _IDLE:
            start = self._run_pos if self._run_n else self._pos
            self._shift(max(0, start - self._pre_n))
        if self._pos + n > self._buf.shape[0]:
            grown = np.zeros(self._pos + n + self._buf.shape[0], dtype=np.int16)
            grown[: self._pos] = self._buf[: self._pos]
            self._buf = grown
        return self._pos

    def _shift(self, keep_from: int) -> None:
        """Drop buffer samples before `keep_from`, fixing up stored positions."""
        if keep_from <= 0:
            return
        keep = self._pos - keep_from
        self._buf[:keep] = self._buf[keep_from : self._pos]
        self._pos = keep
        self._run_pos = max(0, self._run_pos - keep_from)
        self._end_pos = max(0, self._end_pos - keep_from)
