"""A call session with its default collaborators: the process's speech models, render cache
and thread pools; the phone side (control, monitor) comes from the consumer."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

from agents.engine import CallContext, Conversation
from agents.speech.base import STT, VAD, TurnDetector
from agents.speech.endpointer import CALL_ENDPOINTING, SMART_CALL_ENDPOINTING, Endpointer
from agents.speech.registry import get_stt, get_turn_detector, get_vad
from calls.models import Call
from calls.recordings.spool import CallSpool
from calls.runtime.clock import CallClock
from calls.runtime.control import CallControl, CallEnding, Hangup, sms_sender
from calls.runtime.journal import CallJournal, Writer
from calls.runtime.listener import Listener
from calls.runtime.monitor import MonitorFeed
from calls.runtime.outbound import Send
from calls.runtime.persistence import Persister
from calls.runtime.session import AudioSpool, CallSession
from calls.runtime.silence import SilenceWatch
from calls.runtime.speaker import AgentSpeaker
from calls.runtime.speech_render import PRERENDER_POOL, RENDERER, SPEECH_POOL, SpeechRenderer
from calls.runtime.turns import TurnLoop

# End-of-turn verdicts (≈ 60 ms of CPU each) get a thread of their own, so they never wait
# behind a transcription or a render in SPEECH_POOL: they decide when the answer may start.
TURN_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="turn")


def call_session(
    *,
    call: Call,
    context: CallContext,
    send: Send,
    hangup: Hangup,
    monitor: MonitorFeed,
    control: CallControl,
    vad: VAD | None = None,
    stt: Callable[[], STT] = get_stt,
    turn_detector: Callable[[], TurnDetector] = get_turn_detector,
    renderer: SpeechRenderer = RENDERER,
    speech_pool: Executor = SPEECH_POOL,
    prerender_pool: Executor = PRERENDER_POOL,
    writer: Writer | None = None,
    open_spool: Callable[[], AudioSpool] | None = None,
) -> CallSession:
    """The session of `call`: `send` a message to the stream, `hangup` closes it."""
    snapshot = call.agent_snapshot or {}
    context.send_sms = sms_sender(call, control)
    conversation = Conversation(snapshot, context, state=call.conversation or {})
    clock = CallClock()
    journal = CallJournal(call, writer or Persister(call.call_sid), monitor)
    # Versions published before the setting existed keep the fixed silence they were tested with.
    smart = snapshot.get("turn_detection", "silence") == "smart"
    listener = Listener(
        endpointer=Endpointer(
            (vad or get_vad()).new_stream(), SMART_CALL_ENDPOINTING if smart else CALL_ENDPOINTING
        ),
        stt=stt,
        prompt=conversation.vocabulary_prompt() or None,
        clock=clock,
        executor=speech_pool,
        turn_detector=turn_detector if smart else None,
        turn_executor=TURN_POOL,
    )
    speaker = AgentSpeaker(
        send=send,
        clock=clock,
        renderer=renderer,
        voice=snapshot.get("voice"),
        executor=speech_pool,
        prerender_executor=prerender_pool,
        on_cut=lambda kind, asked, kept: journal.event(
            "limit",
            f"An agent line of {asked} characters was cut to {kept}",
            limit="max_say_chars",
            line_kind=kind,
        ),
    )
    ending = CallEnding(call_id=call.pk, journal=journal, control=control, hangup=hangup)
    turns = TurnLoop(
        engine=conversation,
        listener=listener,
        speaker=speaker,
        journal=journal,
        clock=clock,
        silence=SilenceWatch.for_agent(snapshot),
        finish=ending.finish,
    )
    return CallSession(
        call=call,
        conversation=conversation,
        clock=clock,
        journal=journal,
        listener=listener,
        speaker=speaker,
        turns=turns,
        ending=ending,
        control=control,
        open_spool=open_spool or (lambda: CallSpool(call.pk)),
    )
