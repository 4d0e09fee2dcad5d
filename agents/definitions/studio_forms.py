"""Studio forms of the agents app: the draft, its actions and handovers, versions, environments
and members. Forms only parse input; the services validate the domain rules and save."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from agents.config.services import CREDENTIAL_KEYS
from agents.models import ActionKind, AuthKind, Brain, Environment, Role
from handovers.models import Fallback, HandoverKind

LANGUAGES = ("en-US", "en-GB", "nl-NL", "de-DE", "fr-FR", "es-ES")


def service_errors_to_form(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the matching fields, the rest above the form."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            messages = list(dict.fromkeys(m for e in errors for m in e.messages))
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, exc.messages)


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# --- The draft ---------------------------------------------------------------------------


class AgentCreateForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Shown in Studio, e.g. Support agent.")
    language = forms.CharField(max_length=16, initial="en-US")


class AgentDraftForm(forms.Form):
    name = forms.CharField(max_length=120)
    language = forms.CharField(
        max_length=16,
        help_text="BCP 47 tag, e.g. en-US.",
        widget=forms.TextInput(attrs={"list": "languages"}),
    )
    voice = forms.CharField(max_length=40, help_text="Text-to-speech voice; joe is bundled.")
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

    def __init__(self, *args, action_names: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "— none —")] + [(n, n) for n in action_names]
        current = (self.initial or {}).get("action")
        if current and current not in action_names:
            choices.append((current, f"{current} (missing)"))
        self.fields["action"].choices = choices

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


def knowledge_initial(knowledge: list[dict]) -> list[dict]:
    return [{"question": k.get("question", ""), "answer": k.get("answer", "")} for k in knowledge]


def intents_initial(intents: list[dict]) -> list[dict]:
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


def formset_rows(formset: forms.BaseFormSet) -> list[forms.Form]:
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

    def __init__(self, *args, kind: str, auth_connectors: list[str] = (), **kwargs):
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
            self.fields["auth_connector"].choices = [("", "— none —")] + [
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

    @staticmethod
    def initial_for(action) -> dict[str, Any]:
        initial = {"name": action.name, "description": action.description, **action.config}
        if isinstance(initial.get("headers"), dict):
            initial["headers"] = "\n".join(f"{k}: {v}" for k, v in initial["headers"].items())
        return initial


class HandoverForm(forms.Form):
    name = forms.RegexField(
        regex=r"^[a-z][a-z0-9_]{0,62}$",
        max_length=63,
        help_text="Lowercase letters, digits and underscores, like transfer_to_sales.",
        error_messages={"invalid": "Use lowercase letters, digits and underscores."},
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="When the agent should hand the caller over.",
    )
    destination = forms.CharField(
        max_length=40,
        help_text="With the country code, e.g. +31201234567.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    caller_id = forms.CharField(
        label="Caller ID",
        max_length=40,
        required=False,
        help_text="Shown to the person who answers; empty uses the number the caller dialled.",
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    ring_timeout = forms.IntegerField(
        label="Ring timeout (seconds)", min_value=5, max_value=600, initial=20
    )
    fallback = forms.ChoiceField(
        label="If nobody answers", choices=Fallback.choices, initial=Fallback.HANGUP
    )
    extra_destinations = forms.CharField(
        label="Extra destinations",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One number per line, tried in order when the fallback is “next destination”.",
    )
    handover_message = forms.CharField(
        label="Handover line",
        max_length=300,
        required=False,
        initial="Please hold while I transfer your call.",
        help_text="What the agent says before transferring.",
    )
    flow_sid = forms.CharField(
        label="Studio Flow SID",
        max_length=34,
        help_text="The flow to return to, FW followed by 32 hex characters.",
    )

    PHONE_ONLY = ("destination", "caller_id", "ring_timeout", "fallback", "extra_destinations")

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        drop = ("flow_sid",) if kind == HandoverKind.PHONE else self.PHONE_ONLY
        for name in drop:
            del self.fields[name]

    def handover_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if "extra_destinations" in data:
            data["extra_destinations"] = lines(data["extra_destinations"])
        return {"kind": self.kind, **data}

    @staticmethod
    def initial_for(handover) -> dict[str, Any]:
        fields = ("name", "description", "destination", "caller_id", "ring_timeout")
        initial = {f: getattr(handover, f) for f in fields}
        initial.update(
            fallback=handover.fallback,
            extra_destinations="\n".join(handover.extra_destinations),
            handover_message=handover.handover_message,
            flow_sid=handover.flow_sid,
        )
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

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("draft", "Draft")] + [(str(v.number), v.label) for v in versions]
        self.fields["a"].choices = choices
        self.fields["b"].choices = choices


# --- Environments ------------------------------------------------------------------------


class NamedForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="Letters, digits, underscores: CRM_API_KEY.")
    description = forms.CharField(max_length=200, required=False)


class ValueForm(forms.Form):
    """A value for one environment. Secret values use a password input and are never shown."""

    environment = forms.ModelChoiceField(queryset=Environment.objects.none())
    value = forms.CharField(required=False, strip=False)

    def __init__(self, *args, workspace, secret: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = Environment.objects.filter(workspace=workspace)
        if secret:
            self.fields["value"].required = True
            self.fields["value"].widget = forms.PasswordInput(render_value=False)


class AuthConnectorForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="Actions refer to it by this name.")
    kind = forms.ChoiceField(choices=AuthKind.choices, label="Type")
    header_name = forms.CharField(
        max_length=100, required=False, help_text="For API-key auth, e.g. X-API-Key."
    )
    token_url = forms.URLField(
        assume_scheme="https",
        label="Token URL",
        required=False,
        help_text="For OAuth2 client credentials.",
    )
    scope = forms.CharField(max_length=300, required=False)


CREDENTIAL_LABELS = {
    "token": "Token",
    "key": "API key",
    "username": "Username",
    "password": "Password",
    "client_id": "Client ID",
    "client_secret": "Client secret",
}


class CredentialsForm(forms.Form):
    """Write-only credentials of one auth connector in one environment."""

    environment = forms.ModelChoiceField(
        queryset=Environment.objects.none(), empty_label="Choose an environment"
    )

    def __init__(self, *args, auth_connector, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = Environment.objects.filter(
            workspace_id=auth_connector.workspace_id
        )
        for key in CREDENTIAL_KEYS[AuthKind(auth_connector.kind)]:
            widget = forms.TextInput() if key in ("username", "client_id") else None
            self.fields[key] = forms.CharField(
                label=CREDENTIAL_LABELS[key],
                strip=False,
                widget=widget or forms.PasswordInput(render_value=False),
            )

    def credentials(self) -> dict[str, str]:
        return {k: v for k, v in self.cleaned_data.items() if k != "environment"}


# --- Members -----------------------------------------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
