"""One conversation: turn-taking state plus the brain of the answering version.

The call session feeds it caller utterances and DTMF; each turn yields TurnEvents (speak,
actions run, handover, end call) in the order they must happen.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, NotRequired, TypedDict

from agents.actions.context import CallContext
from agents.actions.runner import run_action
from agents.engine.embedded import Choice, EmbeddedBrain, first_question, handover_title
from agents.engine.events import ActionRan, Decision, EndCall, Handover, Speak, TurnEvent
from agents.engine.spoken_forms import normalize_spoken
from agents.engine.text_match import HESITATIONS

logger = logging.getLogger(__name__)

DEFAULT_GREETING = "Hello, thank you for calling. How can I help you today?"
NOT_UNDERSTOOD = "Sorry, I didn't quite catch that. Could you say it again?"  # unclear audio
CANNOT_HELP = "I'm sorry, I can't help with that."
INVITE = "Of course. What would you like to know?"
DEFAULT_GOODBYE = "Thank you for calling. Goodbye!"
DEFAULT_HANDOVER_LINE = "Please hold while I transfer your call."
NO_HUMAN = "I'm sorry, there is nobody I can transfer you to. How else can I help?"
REPROMPT = "Are you still there? How can I help you?"
SILENCE_GOODBYE = "I haven't heard anything for a while, so I'll end the call now. Goodbye!"
HISTORY_LIMIT = 60
_LETTERS = re.compile(r"[^\W\d_]+")


class ConversationState(TypedDict):
    """What the engine keeps between turns; saved into the call's `conversation` JSON."""

    history: list[dict[str, Any]]  # {"role": "caller" | "agent", "text", ["interrupted"]}
    actions_run: list[dict[str, Any]]  # {"name", "ok", "outcome", "at"}
    variables: dict[str, Any]
    # The handovers named in "whom would you like to speak to?", answered on the next turn.
    asked_handover: list[str]
    # The two outcomes (brain labels) named in a clarifying question, answered on the next turn.
    clarify_options: NotRequired[list[str]]
    # The handover label the honest line offered ("… or put you through to reception"): a
    # "yes please" on the next turn takes it.
    offered: NotRequired[str]
    # What the caller asked last that got an answer: "and on Saturday?" is read with it.
    topic: NotRequired[str]


class Conversation:
    # Between turns (see ConversationState); set by `_load`.
    history: list[dict[str, Any]]
    actions_run: list[dict[str, Any]]
    variables: dict[str, Any]
    asked_handover: list[str]
    clarify_options: list[str]
    offered: str
    topic: str

    def __init__(
        self,
        snapshot: dict[str, Any],
        ctx: CallContext,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.snapshot = snapshot or {}
        self.ctx = ctx
        self.brain = EmbeddedBrain(self.snapshot)
        self._load(state or {})
        digits = str(ctx.call.get("digits") or "")
        self.context_intent = self.brain.intent_for_digits(digits)
        self._llm = None
        if self.snapshot.get("brain") == "llm":
            from agents.engine.llm import LlmBrain  # httpx client code, loaded for LLM agents only

            self._llm = LlmBrain(self.snapshot, ctx)

    # ---- lines -------------------------------------------------------------------------
    def greeting(self) -> str:
        if self.context_intent and self.context_intent.get("context_greeting"):
            context_greeting: str = self.context_intent["context_greeting"]
            return context_greeting
        greeting: str = self.snapshot.get("greeting") or DEFAULT_GREETING
        return greeting

    def fixed_lines(self) -> list[str]:
        """Lines worth rendering to audio once per version (greeting, answers, handover lines)."""
        lines = [self.greeting(), NOT_UNDERSTOOD, REPROMPT, SILENCE_GOODBYE, DEFAULT_GOODBYE]
        lines += [self.cannot_help(), INVITE, self.whom_question()]
        lines += [k.get("answer", "") for k in self.snapshot.get("knowledge", [])]
        lines += [h.get("handover_message", "") for h in self.snapshot.get("handover_actions", [])]
        lines += [i.get("response", "") for i in self.snapshot.get("intents", [])]
        for action in self.snapshot.get("actions", []):
            if action["kind"] == "end_call":
                lines.append(action.get("config", {}).get("goodbye", ""))
            elif action["kind"] == "static_response" and "{{" not in str(action.get("config")):
                lines.append(action.get("config", {}).get("response", ""))
        return [line for line in dict.fromkeys(lines) if line and "{{" not in line]

    def cannot_help(self) -> str:
        """The honest line for a request the agent has nothing for: what it can do instead,
        naming at most two things (a question it answers, a team it puts callers through to)."""
        topics = [first_question(k.get("question", "")) for k in self.snapshot.get("knowledge", [])]
        topics += [
            i["name"].replace("_", " ")
            for i in self.snapshot.get("intents", [])
            if i.get("name") and i.get("response") and not i.get("action")
        ]
        topics = [t.rstrip("?. ") for t in topics if t.strip()]
        teams = [handover_title(h["name"]) for h in self.brain.human_handovers()]
        ask = f"I can answer questions like {_lower_first(topics[0])}" if topics else ""
        if topics and teams:
            offer = f"{ask}, or put you through to {teams[0]}."
        elif topics:
            offer = f"{ask}."
        elif teams:
            offer = f"I can put you through to {' or '.join(teams[:2])}."
        else:
            return CANNOT_HELP
        return f"{CANNOT_HELP} {offer}"

    def whom_question(self) -> str:
        """Asked when a caller wants a person and several handovers could be meant."""
        titles = [handover_title(h["name"]) for h in self.brain.human_handovers()]
        if len(titles) < 2:
            return ""
        return f"Who would you like to speak to: {', '.join(titles[:-1])} or {titles[-1]}?"

    def clarify_question(self, options: tuple[str, ...] | list[str]) -> str:
        """A short question naming both outcomes the caller may mean."""
        a, b = (self.brain.option_phrase(o) for o in options[:2])
        return f"Just to be sure: {a}, or {b}?"

    def vocabulary_prompt(self, limit: int = 600) -> str:
        """Words this agent expects to hear, to steer speech recognition (Whisper's prompt)."""
        parts = [self.snapshot.get("name", "")]
        parts += [k.get("question", "") for k in self.snapshot.get("knowledge", [])]
        for intent in self.snapshot.get("intents", []):
            parts += intent.get("examples", [])[:3]
        parts += [h["name"].replace("_", " ") for h in self.snapshot.get("handover_actions", [])]
        return " ".join(p.strip() for p in parts if p and p.strip())[:limit]

    # ---- history -----------------------------------------------------------------------
    def _remember(self, role: str, text: str, **extra: Any) -> None:
        self.history.append({"role": role, "text": text, **extra})
        del self.history[:-HISTORY_LIMIT]

    def agent_heard(self, text: str, *, interrupted: bool) -> None:
        """Only what the caller actually heard goes into the history."""
        if text:
            self._remember("agent", text, interrupted=interrupted)

    def state(self) -> ConversationState:
        return {
            "history": self.history,
            "actions_run": self.actions_run[-50:],
            "variables": self.variables,
            "asked_handover": self.asked_handover,
            "clarify_options": self.clarify_options,
            "offered": self.offered,
            "topic": self.topic,
        }

    # ---- turns -------------------------------------------------------------------------
    async def turn(self, caller_text: str) -> AsyncIterator[TurnEvent]:
        # The brain reads the written form ("0612…", "5 March"); the call's transcript keeps
        # what was heard, and "unclear" is judged on the words heard (docs/embedded-brain.md).
        heard, caller_text = caller_text, normalize_spoken(caller_text)
        history = list(self.history)
        self._remember("caller", caller_text)
        if self._llm is not None:
            async for event in self._llm.turn(history, caller_text):
                self._note(event)
                yield event
            return
        if _unclear(heard) and not (self.clarify_options and _DIGIT.search(caller_text)):
            self.asked_handover = []
            yield Decision(
                "unclear", 0.0, summary="nothing: the words were unclear", outcome="unclear"
            )
            yield Speak(NOT_UNDERSTOOD, cacheable=True)
            return
        choice = await asyncio.to_thread(self._choose, caller_text)  # model inference
        async for event in self._embedded_turn(choice, caller_text):
            yield event

    def _choose(self, text: str) -> Choice:
        """The brain's choice read in the conversation's context: the answer to the question
        the agent just asked (whom? which of the two?), "yes please" to the team the honest line
        offered, a correction ("no, I meant billing"), a follow-up ("and on Saturday?")."""
        asked, self.asked_handover = self.asked_handover, []
        options, self.clarify_options = self.clarify_options, []
        offered, self.offered = self.offered, ""
        topic, self.topic = self.topic, ""
        if asked:  # the answer to "whom would you like to speak to?"
            choice = self.brain.choose_handover(text, asked)
            if choice is not None:
                return choice
        if offered and _YES.match(text) and not _NO.search(text) and len(text.split()) <= 5:
            return self.brain.choice(offered, 1.0)  # "yes please", not "yes, and the hours?"
        if options:
            choice = self.brain.choose_between(text, options)
            if choice is not None:
                return choice
        corrected = _CORRECTION.sub("", text).strip()
        if corrected != text.strip() and corrected:
            return self.brain.choose(corrected)
        choice = self.brain.choose(text)
        if topic and _FOLLOW_UP.match(text) and choice.kind in ("answer", "unknown", "clarify"):
            with_topic = self.brain.choose(f"{topic} {text}")
            if with_topic.kind == "answer":
                return with_topic
        return choice

    async def dtmf(self, digit: str) -> AsyncIterator[TurnEvent]:
        self._remember("caller", f"[pressed {digit}]")
        options, self.clarify_options = self.clarify_options, []
        if digit in ("1", "2") and len(options) >= int(digit):  # "… or …?" answered on the keypad
            choice = self.brain.choice(options[int(digit) - 1], 1.0)
            async for event in self._embedded_turn(choice, f"DTMF {digit}"):
                yield event
            return
        intent = self.brain.intent_for_digits(digit)
        if intent is None:
            return
        async for event in self._embedded_turn(self.brain.choose_intent(intent), f"DTMF {digit}"):
            yield event

    def _note(self, event: TurnEvent) -> None:
        if isinstance(event, ActionRan):
            self.actions_run.append(
                {"name": event.name, "ok": event.ok, "outcome": event.outcome, "at": time.time()}
            )

    async def _embedded_turn(self, choice: Choice, caller_text: str) -> AsyncIterator[TurnEvent]:
        if choice.kind in ("unknown", "human") and self.context_intent is not None:
            context_choice = self.brain.choose_intent(self.context_intent)
            if context_choice.kind == "handover" or choice.kind == "human":
                choice = context_choice
        yield self._decision(choice)
        if choice.kind == "answer":
            self.topic = caller_text
            yield Speak(choice.text or self.cannot_help(), cacheable=True)
        elif choice.kind == "unknown":
            humans = self.brain.human_handovers()
            if humans and self.cannot_help() != CANNOT_HELP:
                self.offered = f"handover:{humans[0]['name']}"  # the team the line names
            yield Speak(self.cannot_help(), cacheable=True)
        elif choice.kind == "clarify":
            self.clarify_options = list(choice.options)
            yield Speak(self.clarify_question(choice.options))
        elif choice.kind == "invite":
            yield Speak(INVITE, cacheable=True)
        elif choice.kind == "human":
            candidates = self.brain.human_handovers()
            if not candidates:
                yield Speak(NO_HUMAN, cacheable=True)
            elif len(candidates) > 1:
                self.asked_handover = [h["name"] for h in candidates]
                yield Speak(self.whom_question(), cacheable=True)
            else:
                handover = candidates[0]
                yield Speak(handover.get("handover_message") or DEFAULT_HANDOVER_LINE, True)
                yield Handover(handover, reason=f"Caller asked for a person: {caller_text}")
        elif choice.kind == "handover":
            assert choice.target is not None
            line = choice.text or choice.target.get("handover_message") or DEFAULT_HANDOVER_LINE
            yield Speak(line, cacheable=True)
            yield Handover(choice.target, reason=f"Caller said: {caller_text}")
        elif choice.kind == "goodbye" and choice.target is None:
            yield Speak(DEFAULT_GOODBYE, cacheable=True)
            yield EndCall("Caller said goodbye")
        else:
            assert choice.target is not None
            if choice.text:
                yield Speak(choice.text, cacheable=True)
            async for event in self._run(choice.target):
                yield event

    def _decision(self, choice: Choice) -> Decision:
        """The choice as the timeline and test suites see it: what the turn does, with what."""
        outcome, target = outcome_of(choice, self.brain.human_handovers())
        return Decision(
            choice.label,
            round(choice.score, 3),
            summary=self.brain.describe(choice),
            outcome=outcome,
            target=target,
        )

    async def _run(self, action: dict[str, Any]) -> AsyncIterator[TurnEvent]:
        result = await run_action(action, self.ctx)
        event = ActionRan(
            name=action["name"],
            kind=action["kind"],
            ok=result.ok,
            duration_ms=result.duration_ms,
            inputs=result.inputs,
            outcome=result.outcome,
        )
        self._note(event)
        yield event
        if result.say:
            yield Speak(result.say, cacheable=action["kind"] in ("end_call", "static_response"))
        if result.end_call:
            yield EndCall(f"Action {action['name']}")

    def silence_turn(self, count: int, limit: int) -> list[TurnEvent]:
        """Re-prompt after silence; end politely after `limit` re-prompts."""
        if count > limit:
            return [Speak(SILENCE_GOODBYE, cacheable=True), EndCall("Caller stayed silent")]
        return [Speak(REPROMPT, cacheable=True)]

    def _load(self, state: Mapping[str, Any]) -> None:
        """Take the between-turns state (a saved `state()`), copying every list and dict."""
        self.history = list(state.get("history", []))
        self.actions_run = list(state.get("actions_run", []))
        self.variables = dict(state.get("variables", {}))
        self.asked_handover = list(state.get("asked_handover", []))
        self.clarify_options = list(state.get("clarify_options", []))
        self.offered = str(state.get("offered", ""))
        self.topic = str(state.get("topic", ""))

    def checkpoint(self) -> ConversationState:
        """The state before a speculative turn (worked out while the caller may still go on):
        all of `state()`, copied, so a pending clarifying question or offer survives a rollback."""
        return {
            "history": list(self.history),
            "actions_run": list(self.actions_run),
            "variables": dict(self.variables),
            "asked_handover": list(self.asked_handover),
            "clarify_options": list(self.clarify_options),
            "offered": self.offered,
            "topic": self.topic,
        }

    def rollback(self, saved: ConversationState) -> None:
        """Undo a speculative turn the caller talked through: back to `checkpoint()`'s state."""
        self._load(saved)


def outcome_of(choice: Choice, humans: list[dict[str, Any]]) -> tuple[str, str]:
    """(outcome, target) of an embedded choice; see Decision. A request for "a person" is a
    handover when one team is meant, a clarifying question when several could be."""
    kind, _, name = choice.label.partition(":")
    if choice.kind == "answer":
        return "answer", name if kind in ("knowledge", "intent") else ""
    if choice.kind == "handover":
        return "handover", choice.target["name"] if choice.target else ""
    if choice.kind == "action":
        return "action", choice.target["name"] if choice.target else ""
    if choice.kind == "goodbye":
        return "goodbye", choice.target["name"] if choice.target else ""
    if choice.kind == "human":
        if len(humans) == 1:
            return "handover", str(humans[0].get("name", ""))
        return ("clarify", "") if humans else ("out_of_scope", "")
    if choice.kind == "invite":
        return "invite", ""
    if choice.kind == "clarify":
        return "clarify", ""
    return "out_of_scope", ""


_YES = re.compile(
    r"^\W*(?:yes|yeah|yep|yup|sure|ok|okay|please|alright|go ahead|that would be great)\b",
    re.IGNORECASE,
)
_NO = re.compile(r"\b(?:no|not|don't)\b", re.IGNORECASE)
# "no, I meant …", "sorry, I mean …", "no sorry, I was asking about …": what follows is the request.
_CORRECTION = re.compile(
    r"^\W*(?:(?:no|nope|sorry|actually|not that)\W+)+"
    r"(?:I\s+(?:meant|mean|said|was asking(?:\s+about)?|wanted\s+to\s+know)|what I meant (?:is|was))"
    r"\W*(?:about\W+)?",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_FOLLOW_UP = re.compile(r"^\W*(?:and|what about|how about|also|and what about)\b", re.IGNORECASE)


def _unclear(text: str) -> bool:
    """Nothing but noise was recognised: no word of two letters or more besides hesitations."""
    words = _LETTERS.findall(text.lower())
    return not any(len(w) >= 2 and w not in HESITATIONS for w in words)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
