"""A Twilio call simulator: drives our webhook and media stream exactly like Twilio would.

result = await simulate_call(SimulatedCall(base_url, "/v1/agents/ID/twilio-config",
                                           account_sid, auth_token,
                                           script=[WaitForAgent(), Say("Hi"), WaitForAgent()]))
print(format_transcript(result))
"""

from __future__ import annotations

from calls.simulator.caller import load_wav, read_wav, tone, write_wav
from calls.simulator.playback import PlaybackBuffer
from calls.simulator.report import format_transcript
from calls.simulator.result import (
    AgentUtterance,
    CallerUtterance,
    CallResult,
    DialRecord,
    HttpExchange,
    MarkRecord,
    RedirectRecord,
    ServerRecord,
    StreamEvent,
    StreamRecord,
    Timings,
    WhisperRecord,
)
from calls.simulator.script import Audio, Digits, HangUp, Say, Step, Wait, WaitForAgent
from calls.simulator.session import DIAL_STATUSES, CallSimulator, SimulatedCall
from calls.simulator.signing import OriginMap, build_request, compute_signature, map_origin, new_sid
from calls.simulator.twiml import parse_twiml


async def simulate_call(config: SimulatedCall) -> CallResult:
    """Place one simulated call and return what Twilio would have seen."""
    return await CallSimulator(config).run()


__all__ = [
    "DIAL_STATUSES",
    "AgentUtterance",
    "Audio",
    "CallResult",
    "CallSimulator",
    "CallerUtterance",
    "DialRecord",
    "Digits",
    "HangUp",
    "HttpExchange",
    "MarkRecord",
    "OriginMap",
    "PlaybackBuffer",
    "RedirectRecord",
    "Say",
    "ServerRecord",
    "SimulatedCall",
    "Step",
    "StreamEvent",
    "StreamRecord",
    "Timings",
    "Wait",
    "WaitForAgent",
    "WhisperRecord",
    "build_request",
    "compute_signature",
    "format_transcript",
    "load_wav",
    "map_origin",
    "new_sid",
    "parse_twiml",
    "read_wav",
    "simulate_call",
    "tone",
    "write_wav",
]
