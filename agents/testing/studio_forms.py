"""Studio form of a test case: its name and caller turns, each with one expectation picked
from the agent's own knowledge, intents, handovers and actions."""

from __future__ import annotations

from typing import Any

from django import forms

from agents.testing.outcomes import expectation_text, target_choices
from agents.testing.services import MAX_SAY, MAX_TURNS

ANY = {
    "answer": "Any answer",
    "handover": "Any handover",
    "action": "Any action",
    "clarify": "A clarifying question",
    "out_of_scope": "Out of scope: an honest “I can't help with that”",
    "goodbye": "Goodbye",
}


def expectation_choices(snapshot: dict[str, Any]) -> list[tuple[str, str]]:
    """Select options "outcome|target": the named outcomes first, then the "any" ones."""
    named = [(f"{o}|{t}", label) for o, t, label in target_choices(snapshot)]
    return named + [(f"{outcome}|", label) for outcome, label in ANY.items()]


class CaseForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="What the test checks, in a few words.")


class TurnForm(forms.Form):
    say = forms.CharField(
        label="Caller says", max_length=MAX_SAY, required=False, help_text="Leave empty to skip."
    )
    expect = forms.ChoiceField(label="The agent should", required=False)

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["expect"]
        assert isinstance(field, forms.ChoiceField)
        current = (self.initial or {}).get("expect")
        field.choices = choices + (
            [(current, f"{current} (no longer in the agent)")]
            if current and current not in dict(choices)
            else []
        )

    def turn(self) -> dict[str, str] | None:
        """The turn as the services take it (None for a blank row)."""
        say = self.cleaned_data.get("say", "").strip()
        if not say:
            return None
        outcome, _, target = self.cleaned_data.get("expect", "").partition("|")
        return {"say": say, "expect": outcome, "target": target}


TurnFormSet = forms.formset_factory(TurnForm, extra=2, max_num=MAX_TURNS, absolute_max=MAX_TURNS)


def turns_initial(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"say": t.get("say", ""), "expect": f"{t.get('expect')}|{t.get('target', '')}"}
        for t in turns
    ]


def turn_lines(turns: list[dict[str, Any]], snapshot: dict[str, Any]) -> list[tuple[str, str]]:
    """Each turn as (what the caller says, what the agent should do) for the list."""
    return [
        (
            t.get("say", ""),
            expectation_text(t.get("expect", ""), t.get("target", ""), snapshot)
            if t.get("target")
            else ANY.get(t.get("expect", ""), t.get("expect", "")),
        )
        for t in turns
    ]
