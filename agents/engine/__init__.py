"""The conversation engine: decides what the agent says and does on each caller turn."""

from .context import CallContext
from .conversation import Conversation
from .events import ActionRan, Decision, EndCall, Handover, Speak, TurnEvent

__all__ = [
    "ActionRan",
    "CallContext",
    "Conversation",
    "Decision",
    "EndCall",
    "Handover",
    "Speak",
    "TurnEvent",
]
