"""Studio forms of agent definitions: the draft, its actions, versions. Forms only parse
input; the services validate the domain rules and save. (Handover forms live in handovers,
environment forms in agents.config, member forms in agents.tenancy.)"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import ValidationError

from agents.definitions.action_models import ActionKind, AgentAction
from agents.definitions.models import AgentVersion, Brain, TurnDetection
from agents.definitions.speech_options import (
    language_choices,
    language_problem,
    voice_choices,
    voice_problem,
)
from agents.tenancy.studio_forms import lines


def _choice_field(form: forms.BaseForm, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


# --- The draft ---------------------------------------------------------------------------


class AgentCreateForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Shown in Studio, e.g. Support agent.")
    language = forms.ChoiceField(choices=language_choices, initial="en-US")


class AgentDraftForm(forms.Form):
    name = forms.CharField(max_length=120)
    language = forms.ChoiceField(
        choices=language_choices,
        help_text="The languages the installed speech recognition understands.",
        error_messages={
            "invalid_choice": "“%(value)s” is not a language the installed speech stack "
            "handles: choose one from the list."
        },
    )
    voice = forms.ChoiceField(
        choices=voice_choices,
        help_text="The installed text-to-speech voices.",
        error_messages={
            "invalid_choice": "“%(value)s” is not an installed voice: choose one from the list."
        },
    )
    greeting = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The first thing the agent says when it answers.",
    )
    system_prompt = forms.CharField(
        label="Personality and instructions",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="The system prompt: who the agent is, its tone, what it may and may not do.",
    )
    brain = forms.ChoiceField(
        choices=Brain.choices,
        help_text="Embedded works offline from intents and knowledge; LLM uses a language model.",
    )
    llm_model = forms.CharField(
        label="LLM model",
        max_length=100,
        required=False,
        help_text="Model name for the LLM brain, e.g. gpt-4o-mini.",
    )
    default_handover = forms.ChoiceField(
        label="Default human handover",
        required=False,
        help_text="Where “Can I speak to a person?” goes. With none chosen and several "
        "handovers, the agent asks the caller which one.",
    )
    turn_detection = forms.ChoiceField(
        label="End of the caller's turn",
        choices=TurnDetection.choices,
        initial=TurnDetection.SMART,
        required=False,  # a post without it keeps the agent's current choice
        help_text="Smart answers a finished sentence a fraction of a second into the pause and "
        "waits (up to 1.1 s) through hesitations and numbers read out in groups; fixed silence "
        "always waits 500 ms.",
    )

    def __init__(self, *args: Any, handover_names: Sequence[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        # A saved language or voice that is no longer installed stays selectable (so the page
        # shows what the agent has), marked, and reported in `stale` as an error to fix.
        self.stale: dict[str, str] = {}
        speech = (
            ("language", language_choices, language_problem),
            ("voice", voice_choices, voice_problem),
        )
        for name, options, problem in speech:
            current = (self.initial or {}).get(name)
            message = problem(current) if current else None
            if current and message:
                stale = (current, f"{current} (not available)")
                _choice_field(self, name).choices = [*options(), stale]
                self.stale[name] = message
        choices = [("", "— ask the caller (or the only handover) —")]
        choices += [(n, n) for n in handover_names]
        current = (self.initial or {}).get("default_handover")
        if current and current not in handover_names:
            choices.append((current, f"{current} (missing)"))
        _choice_field(self, "default_handover").choices = choices

    def clean_language(self) -> str:
        return _installed(self.cleaned_data["language"], language_problem)

    def clean_voice(self) -> str:
        return _installed(self.cleaned_data["voice"], voice_problem)

    def clean_turn_detection(self) -> str:
        chosen = self.cleaned_data.get("turn_detection")
        return str(chosen or (self.initial or {}).get("turn_detection") or TurnDetection.SMART)


def _installed(value: str, problem: Callable[[str], str | None]) -> str:
    """The value, unless the speech stack cannot use it (a stale choice kept for display)."""
    message = problem(value)
    if message:
        raise ValidationError(message)
    return value


class KnowledgeForm(forms.Form):
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    answer = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class IntentForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="e.g. buy, opening_hours.")
    examples = forms.CharField(
        label="Example phrases",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line: what callers say when they mean this.",
    )
    response = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="What the agent says."
    )
    action = forms.ChoiceField(required=False, help_text="The action to run, if any.")
    digits = forms.RegexField(
        label="IVR option",
        regex=r"^[0-9*#]{0,8}$",
        required=False,
        help_text="Digits pressed in your IVR (Twilio Studio passes Digits) that mean this intent.",
        error_messages={"invalid": "Use the keys 0-9, * and #."},
    )
    context_greeting = forms.CharField(
        label="Greeting for this IVR option",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Replaces the greeting when the caller arrives with this option.",
    )

    def __init__(self, *args: Any, action_names: Sequence[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        choices = [("", "— none —")] + [(n, n) for n in action_names]
        current = (self.initial or {}).get("action")
        if current and current not in action_names:
            choices.append((current, f"{current} (missing)"))
        _choice_field(self, "action").choices = choices

    def intent(self) -> dict[str, Any]:
        data = self.cleaned_data
        intent: dict[str, Any] = {
            "name": data["name"].strip(),
            "examples": lines(data["examples"]),
            "response": data["response"].strip(),
            "action": data["action"] or "",
        }
        for optional in ("digits", "context_greeting"):
            if data.get(optional, "").strip():
                intent[optional] = data[optional].strip()
        return intent


KnowledgeFormSet = forms.formset_factory(KnowledgeForm, extra=0, can_delete=True)
IntentFormSet = forms.formset_factory(IntentForm, extra=0, can_delete=True)


def knowledge_initial(knowledge: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"question": k.get("question", ""), "answer": k.get("answer", "")} for k in knowledge]


def intents_initial(intents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": i.get("name", ""),
            "examples": "\n".join(i.get("examples", [])),
            "response": i.get("response", ""),
            "action": i.get("action", ""),
            "digits": i.get("digits", ""),
            "context_greeting": i.get("context_greeting", ""),
        }
        for i in intents
    ]


F = TypeVar("F", bound=forms.BaseForm)


def formset_rows(formset: forms.BaseFormSet[F]) -> list[F]:
    """Rows kept after a valid submit: neither marked for removal nor left blank."""
    return [f for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]


# --- Actions -----------------------------------------------------------------------------

# Which config fields each kind of action has, in form order.
ACTION_CONFIG_FIELDS = {
    ActionKind.STATIC_RESPONSE: ("response",),
    ActionKind.END_CALL: ("goodbye",),
    ActionKind.API_CALL: (
        "method",
        "url",
        "headers",
        "body",
        "auth_connector",
        "timeout_seconds",
        "response_template",
    ),
    ActionKind.SEND_SMS: ("to", "body"),
}


class ActionForm(forms.Form):
    """One form for every action kind; only the kind's config fields are kept."""

    name = forms.RegexField(
        regex=r"^[a-z][a-z0-9_]{0,62}$",
        max_length=63,
        help_text="Lowercase letters, digits and underscores, like check_order_status.",
        error_messages={"invalid": "Use lowercase letters, digits and underscores."},
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="When the agent should use this action.",
    )
    response = forms.CharField(
        label="Response",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the agent says. Templates like {{ variables.SHOP_NAME }} work.",
    )
    goodbye = forms.CharField(
        label="Goodbye",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Said before hanging up.",
    )
    method = forms.ChoiceField(
        choices=[(m, m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")], initial="GET"
    )
    url = forms.CharField(
        label="URL",
        max_length=500,
        help_text="e.g. {{ variables.CRM_URL }}/orders?phone={{ call.from }}",
    )
    headers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line, Name: value.",
    )
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    auth_connector = forms.ChoiceField(label="Auth connector", required=False)
    timeout_seconds = forms.FloatField(
        label="Timeout (seconds)", min_value=0.5, max_value=30, initial=5
    )
    response_template = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the agent says with the result, e.g. Your order is {{ result.status }}.",
    )
    to = forms.CharField(
        label="To",
        max_length=200,
        initial="{{ call.from }}",
        help_text="The recipient; {{ call.from }} is the caller.",
    )

    def __init__(self, *args: Any, kind: str, auth_connectors: Sequence[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kind = kind
        keep = {"name", "description", *ACTION_CONFIG_FIELDS[ActionKind(kind)]}
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        if kind == ActionKind.SEND_SMS:
            self.fields["body"].required = True
            self.fields["body"].label = "Message"
        if "auth_connector" in self.fields:
            _choice_field(self, "auth_connector").choices = [("", "— none —")] + [
                (n, n) for n in auth_connectors
            ]

    def clean_headers(self) -> dict[str, str]:
        headers = {}
        for line in lines(self.cleaned_data.get("headers", "")):
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise ValidationError(f"“{line}” is not Name: value.")
            headers[name.strip()] = value.strip()
        return headers

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {key: data[key] for key in ACTION_CONFIG_FIELDS[ActionKind(self.kind)]}

    def action_fields(self) -> dict[str, Any]:
        """What the action services take: name, description and the kind's config."""
        data = self.cleaned_data
        return {"name": data["name"], "description": data["description"], "config": self.config()}

    @staticmethod
    def initial_for(action: AgentAction) -> dict[str, Any]:
        initial = {"name": action.name, "description": action.description, **action.config}
        if isinstance(initial.get("headers"), dict):
            initial["headers"] = "\n".join(f"{k}: {v}" for k, v in initial["headers"].items())
        return initial


# --- Versions ----------------------------------------------------------------------------


class PublishForm(forms.Form):
    note = forms.CharField(
        max_length=300,
        required=False,
        help_text="What changed, e.g. Added the returns intent.",
    )


class DiffForm(forms.Form):
    a = forms.ChoiceField(label="From")
    b = forms.ChoiceField(label="To")

    def __init__(self, *args: Any, versions: Iterable[AgentVersion], **kwargs: Any):
        super().__init__(*args, **kwargs)
        choices = [("draft", "Draft")] + [(str(v.number), v.label) for v in versions]
        _choice_field(self, "a").choices = choices
        _choice_field(self, "b").choices = choices
