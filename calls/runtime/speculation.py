"""A reply worked out during the caller's pause, before the end of the turn is confirmed.

The listener transcribes as soon as the caller pauses; from that transcript the brain runs and
the first words it says are rendered, so the answer can play the moment the end-pointer confirms
the turn. Nothing with an effect outside the call runs ahead: the brain is pulled only up to its
first words, or up to a choice whose next step would run an action, and whatever it changed is
rolled back if the caller goes on talking. Handovers and ends of call are events the turn loop
carries out after confirmation anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.engine import Decision, Speak, TurnEvent
from calls.runtime.engine import Engine
from calls.runtime.outbound import Utterance
from calls.runtime.timing import TurnTiming

# Decisions after which pulling the next event cannot run an action (see agents.engine
# Decision.outcome); a goodbye runs one only when it names an end-call action (a target).
SIDE_EFFECT_FREE = frozenset({"answer", "handover", "clarify", "out_of_scope", "unclear", "invite"})


def safe_to_pull_on(event: TurnEvent) -> bool:
    """May the brain be asked for its next event before the turn is confirmed?"""
    if not isinstance(event, Decision):
        return True
    if event.label.startswith("action:"):
        return False
    if event.outcome == "goodbye":
        return not event.target
    return event.outcome in SIDE_EFFECT_FREE


@dataclass(eq=False)
class Speculation:
    """One pause's speculative work; `samples` identifies the utterance it covers."""

    samples: int
    epoch: int
    unanswered: str  # the turn loop's carried-over words when it started
    transcript: asyncio.Task[str]
    text: str = ""  # what the brain was asked
    transcribed_ms: int | None = None
    decided_ms: int | None = None  # the brain's first words
    saved: Any = None  # the engine's checkpoint, while the brain has run ahead
    turn: AsyncIterator[TurnEvent] | None = None
    events: list[TurnEvent] = field(default_factory=list)  # pulled, not yet carried out
    first: Speak | None = None  # the event whose words are already rendered into `utt`
    utt: Utterance | None = None
    exhausted: bool = False  # every event of the turn is in `events`
    brain: asyncio.Task[None] | None = None
    confirmed: bool = False
    timing: TurnTiming | None = None  # the confirmed turn's

    def covers(self, samples: int, epoch: int) -> bool:
        return self.samples == samples and self.epoch == epoch

    async def run_brain(
        self,
        engine: Engine,
        *,
        now: Callable[[], int],
        render: Callable[[Utterance, str], Any],
        confirmed: Callable[[Utterance], None],
    ) -> None:
        """Transcript → brain → first words rendered; stops before anything with an effect."""
        heard = await asyncio.shield(self.transcript)
        self.transcribed_ms = now()
        if not heard:
            return
        self.text = f"{self.unanswered} {heard}".strip()
        self.saved = engine.checkpoint()
        self.turn = engine.turn(self.text).__aiter__()
        while True:
            try:
                event = await anext(self.turn)
            except StopAsyncIteration:
                self.exhausted = True
                return
            self.events.append(event)
            if isinstance(event, Speak):
                self.decided_ms = now()
                self.first = event
                self.utt = Utterance(text="", kind="reply", caller_text=self.text)
                if self.confirmed:
                    confirmed(self.utt)
                await render(self.utt, event.text)
                return
            if not safe_to_pull_on(event):
                return

    def discard(self, engine: Engine) -> None:
        """The caller went on: stop the work and undo what the brain changed. The transcription
        is left to finish: the listener shares it (e.g. with the turn detector's verdict)."""
        self.transcript.add_done_callback(_ignore_outcome)
        self.drop_brain(engine)

    def drop_brain(self, engine: Engine) -> None:
        """Forget the brain's work (the transcript stays usable). The engine is rolled back at
        once, so the next turn starts from the state before; the brain task is only cancelled,
        and its turn closed once the task has let go of it."""
        if self.saved is not None:
            engine.rollback(self.saved)
            self.saved = None
        turn, self.turn = self.turn, None
        self.events.clear()
        self.first = self.utt = None
        brain, self.brain = self.brain, None
        if brain is None:
            return
        brain.cancel()
        brain.add_done_callback(lambda done: _closed(done, turn))


def _closed(brain: asyncio.Task[None], turn: AsyncIterator[TurnEvent] | None) -> None:
    if not brain.cancelled():
        brain.exception()  # retrieved: a discarded turn's failure is of no interest
    closing = getattr(turn, "aclose", None)
    if closing is not None:
        asyncio.ensure_future(closing()).add_done_callback(_ignore_outcome)


def _ignore_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a generator that fails while closing is of no interest


async def replay(spec: Speculation) -> AsyncIterator[TurnEvent]:
    """The confirmed turn's events: those pulled ahead, then the rest of the turn."""
    for event in spec.events:
        yield event
    if spec.turn is not None and not spec.exhausted:
        async for event in spec.turn:
            yield event
