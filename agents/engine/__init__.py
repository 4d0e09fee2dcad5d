"""The conversation engine: decides what the agent says and does on each caller turn."""

from agents.actions.context import CallContext
from agents.engine.conversation import Conversation
from agents.engine.events import (
    ActionRan,
    Decision,
    EndCall,
    Handover,
    Problem,
    Speak,
    TurnEvent,
)

__all__ = [
    "ActionRan",
    "CallContext",
    "Conversation",
    "Decision",
    "EndCall",
    "Handover",
    "Problem",
    "Speak",
    "TurnEvent",
]
