"""A conversation on one call: the embedded brain over the answering version's snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .text_match import Matcher

DEFAULT_GREETING = "Hello, thank you for calling. How can I help you today?"
NOT_UNDERSTOOD = "Sorry, I didn't quite catch that. Could you say it again?"
GOODBYE_EXAMPLES = ("goodbye", "bye bye", "that's all thank you", "nothing else thanks bye")
MATCH_THRESHOLD = 0.35


@dataclass
class AgentTurn:
    """What the agent does in reply: say `text`, then optionally run `action` or end the call."""

    text: str
    action: dict[str, Any] | None = None
    end_call: bool = False
    label: str = ""
    score: float = 0.0


@dataclass
class Conversation:
    snapshot: dict[str, Any]
    call_context: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        examples: list[tuple[str, str]] = []
        self._targets: dict[str, AgentTurn] = {}
        for i, intent in enumerate(self.snapshot.get("intents", [])):
            label = f"intent:{i}"
            for example in intent.get("examples", []):
                examples.append((label, example))
            self._targets[label] = self._intent_turn(intent)
        for i, item in enumerate(self.snapshot.get("knowledge", [])):
            label = f"knowledge:{i}"
            examples.append((label, item.get("question", "")))
            self._targets[label] = AgentTurn(text=item.get("answer", ""), label=label)
        for handover in self.snapshot.get("handover_actions", []):
            label = f"handover:{handover['name']}"
            examples.append((label, handover.get("description", "")))
            examples.append((label, handover["name"].replace("_", " ")))
            self._targets[label] = AgentTurn(
                text=handover.get("handover_message") or "Please hold while I transfer you.",
                action={"type": "handover", **handover},
                label=label,
            )
        for example in GOODBYE_EXAMPLES:
            examples.append(("goodbye", example))
        self._targets["goodbye"] = self._goodbye_turn()
        self.matcher = Matcher(examples)

    def _actions_by_name(self) -> dict[str, dict[str, Any]]:
        return {a["name"]: a for a in self.snapshot.get("actions", [])}

    def _intent_turn(self, intent: dict[str, Any]) -> AgentTurn:
        action_name = intent.get("action") or ""
        action = self._actions_by_name().get(action_name)
        handover = next(
            (h for h in self.snapshot.get("handover_actions", []) if h["name"] == action_name),
            None,
        )
        if handover is not None:
            return AgentTurn(
                text=intent.get("response") or handover.get("handover_message", ""),
                action={"type": "handover", **handover},
                label=f"intent:{intent.get('name', '')}",
            )
        text = intent.get("response", "")
        if action and action["kind"] == "static_response" and not text:
            text = action["config"].get("response", "")
        return AgentTurn(
            text=text,
            action=action,
            end_call=bool(action and action["kind"] == "end_call"),
            label=f"intent:{intent.get('name', '')}",
        )

    def _goodbye_turn(self) -> AgentTurn:
        end = next((a for a in self.snapshot.get("actions", []) if a["kind"] == "end_call"), None)
        text = (end or {}).get("config", {}).get("goodbye") or "Thank you for calling. Goodbye!"
        return AgentTurn(text=text, action=end, end_call=True, label="goodbye")

    def greeting(self) -> str:
        return self.snapshot.get("greeting") or DEFAULT_GREETING

    def respond(self, caller_text: str) -> AgentTurn:
        self.history.append({"role": "caller", "text": caller_text})
        label, score = self.matcher.best(caller_text)
        if label is None or score < MATCH_THRESHOLD:
            turn = AgentTurn(text=NOT_UNDERSTOOD, label="not_understood", score=score)
        else:
            base = self._targets[label]
            turn = AgentTurn(base.text, base.action, base.end_call, base.label, score)
        self.history.append({"role": "agent", "text": turn.text, "label": turn.label})
        return turn

    def state(self) -> dict[str, Any]:
        return {"history": self.history[-50:]}
