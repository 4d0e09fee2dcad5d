"""Backchannels and false barge-ins: the judge on synthetic and synthesized sounds, and the turn
loop keeping the agent talking through them while a real interruption still stops it."""

from __future__ import annotations

from functools import cache

import numpy as np

from agents.speech.backchannel import BargeInConfig, BargeInJudge, frame_dbfs, voicing
from stellar.kernel.audio import pcm16_to_ulaw
from tests.unit.call_runtime_fakes import quiet, run_virtual, until
from tests.unit.test_call_runtime_turns import HOURS, Line, ScriptedEngine

RATE = 8000


def vowel(ms: int, level: float = 6000.0, pitch: float = 140.0) -> np.ndarray:
    """A voice-like sound: harmonics of a gliding pitch (speech never holds one pitch)."""
    t = np.arange(ms * RATE // 1000) / RATE
    f0 = pitch * (1 + 0.15 * t / max(t[-1], 1e-3))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (level * x / np.abs(x).max()).astype(np.int16)


def cough(ms: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = ms * RATE // 1000
    t = np.arange(n) / RATE
    return (
        (rng.normal(0, 1, n) * 9000 * np.exp(-t / (ms / 3000))).clip(-32767, 32767).astype(np.int16)
    )


def judge_frames(judge: BargeInJudge, audio: np.ndarray) -> int | None:
    """Feed 20 ms frames from onset (the first 3 as the onset run); ms at confirmation."""
    if judge.start(audio[:480]):
        return 60
    for i in range(480, len(audio) - 159, 160):
        if judge.feed(audio[i : i + 160]):
            return (i + 160) // 8
    return None


def test_levels_and_voicing_tell_a_vowel_from_noise() -> None:
    assert frame_dbfs(np.zeros(160, np.int16)) < -80
    assert -10 < frame_dbfs(np.full(160, 16000, np.int16)) < -5
    score, lag = voicing(vowel(40)[:306])
    assert score > 0.8 and 50 <= lag <= 60  # 140 Hz: a 57-sample period, not a multiple
    noise = np.random.default_rng(3).normal(0, 3000, 306).astype(np.int16)
    assert voicing(noise)[0] < 0.4


def test_sustained_voice_is_confirmed_within_the_barge_in_budget() -> None:
    at = judge_frames(BargeInJudge(), vowel(600))
    assert at is not None and at <= 280


def test_short_blips_coughs_hum_and_murmurs_are_not_interruptions() -> None:
    assert judge_frames(BargeInJudge(), vowel(120)) is None  # "mm"
    assert judge_frames(BargeInJudge(), cough(250)) is None
    t = np.arange(RATE) / RATE
    hum = (3000 * np.sin(2 * np.pi * 150 * t)).astype(np.int16)  # one steady pitch: a tone
    assert judge_frames(BargeInJudge(), hum) is None
    # Long enough, but far quieter than this caller talks: a murmured "mhm", not a turn.
    judge = BargeInJudge(BargeInConfig(below_caller_db=12.0))
    judge.learn(vowel(1000, level=12000))
    assert judge.caller_dbfs is not None and -16 < judge.caller_dbfs < -10
    assert judge_frames(judge, vowel(600, level=1500)) is None
    assert judge_frames(judge, vowel(600, level=9000)) is not None


@cache
def _said(text: str) -> np.ndarray:
    from agents.speech.registry import get_tts

    audio = get_tts().synthesize(text)
    loud = np.nonzero(np.abs(audio.astype(np.int32)) > 400)[0]
    return audio[loud[0] : loud[-1] + 1]


def test_synthesized_speech_interrupts_within_the_budget() -> None:
    at = judge_frames(BargeInJudge(), _said("Hold on, can I ask something?"))
    assert at is not None and at <= 300
    # The same voice's first 100 ms alone (a clipped "ho…") is too short to stop the agent.
    assert judge_frames(BargeInJudge(), _said("Hold on, can I ask something?")[:800]) is None


def test_the_agent_talks_through_a_backchannel_and_it_is_not_answered() -> None:
    async def main() -> None:
        engine = ScriptedEngine()
        async with Line(engine, frames=150) as line:
            greeting = await line.speaker.say_line("Welcome to the long greeting.", kind="greeting")
            await line.caller_says(quiet(600) + pcm16_to_ulaw(cough(250)) + quiet(900))
            await line.caller_says(pcm16_to_ulaw(vowel(120)) + quiet(900))  # a quick "mm"
            assert line.outbox.of("clear") == [] and not greeting.cancelled
            assert line.writer.events("barge_in") == []
            assert engine.caller == []  # never answered as a turn
            (noted,) = line.writer.events("backchannel")  # the cough; the "mm" was too short
            assert noted["duration_ms"] >= 200
            assert line.speaker.speaking

    run_virtual(main())


def test_a_backchannel_held_long_enough_still_stops_the_agent_within_300_ms() -> None:
    async def main() -> None:
        engine = ScriptedEngine()
        async with Line(engine, frames=150, heard=HOURS) as line:
            await line.speaker.say_line("Welcome to the long greeting.", kind="greeting")
            await line.caller_says(quiet(600) + pcm16_to_ulaw(vowel(700)) + quiet(700))
            await until(lambda: bool(line.outbox.of("clear")))
            (barge_in,) = line.writer.events("barge_in")
            assert barge_in["decided_after_ms"] <= 300
            await until(lambda: engine.caller == [HOURS])  # and it is answered as a turn

    run_virtual(main())
