"""The conversation engine: decides what the agent says and does on each caller turn."""

from .turns import AgentTurn, Conversation

__all__ = ["AgentTurn", "Conversation"]
