"""The Add / Edit phone connector form, as the docs describe it: type Twilio, agent,
environment, version mode (Published / Draft / Pinned with a version picker), Account SID and
Auth Token (write-only)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core import signing
from django.db.models import QuerySet
from django.urls import reverse

from agents.models import Agent, AgentVersion, Environment, Workspace
from connectors.models import ConnectorKind, VersionMode
from stellar.kernel import crypto

# A typed Auth Token survives a form error for this long, encrypted and signed (never as text).
KEPT_TOKEN_MAX_AGE = 30 * 60

VERSION_MODE_CHOICES = [
    (VersionMode.PUBLISHED, "Published: follows the latest published version"),
    (VersionMode.DRAFT, "Draft: answers with the draft, for testing"),
    (VersionMode.PINNED, "Pinned: always answers with the version you pick"),
]


class VersionChoiceField(forms.ModelChoiceField[AgentVersion]):
    def label_from_instance(self, obj: AgentVersion) -> str:
        note = f" · {obj.note}" if obj.note else ""
        return f"{obj.label} ({obj.display_status}){note}"


class ConnectorForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        required=False,
        help_text="Optional, e.g. Main line. Defaults to the agent and environment.",
    )
    kind = forms.ChoiceField(label="Type", choices=ConnectorKind.choices)
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), empty_label="Choose an agent")
    environment = forms.ModelChoiceField(
        queryset=Environment.objects.none(),
        empty_label=None,
        help_text="Whose secrets and variables the agent's actions use.",
    )
    version_mode = forms.ChoiceField(
        label="Version mode", choices=VERSION_MODE_CHOICES, widget=forms.RadioSelect
    )
    pinned_version = VersionChoiceField(
        label="Version",
        queryset=AgentVersion.objects.none(),
        required=False,
        empty_label="Choose a version",
        help_text="Used in Pinned mode.",
    )
    twilio_account_sid = forms.RegexField(
        label="Twilio Account SID",
        regex=r"^AC[0-9a-fA-F]{32}$",
        max_length=34,
        help_text="Twilio console → Account info: AC followed by 32 characters.",
        error_messages={"invalid": "An Account SID looks like AC + 32 hex characters."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    twilio_auth_token = forms.CharField(
        label="Auth Token",
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again.",
    )
    enabled = forms.BooleanField(
        required=False, initial=True, help_text="A disabled connector answers no calls."
    )
    # The Auth Token typed before a form error, encrypted and signed for this workspace, so
    # the user need not type it again and the secret itself is never rendered back.
    kept_token = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, workspace: Workspace, editing: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._token_salt = f"connector-auth-token:{workspace.pk}"
        self._editing = editing
        self.kept_token_value = ""  # set by clean(): what the hidden kept_token renders
        # self.fields holds copies of the fields declared above (casts: their declared types).
        agent = cast(forms.ModelChoiceField[Agent], self.fields["agent"])
        agent.queryset = Agent.objects.filter(workspace=workspace)
        agent.widget.attrs.update(  # htmx: reload the version picker
            {
                "hx-get": reverse("studio:connector-versions"),
                "hx-target": "#version-picker",
                "hx-swap": "outerHTML",
            }
        )
        environment = cast(forms.ModelChoiceField[Environment], self.fields["environment"])
        environment.queryset = Environment.objects.filter(workspace=workspace)
        agent_id = self.data.get("agent") if self.is_bound else self.initial.get("agent")
        agent_id = getattr(agent_id, "pk", agent_id)
        pinned = cast(VersionChoiceField, self.fields["pinned_version"])
        pinned.queryset = pinned_choices(workspace, agent_id)
        # Required only when creating, checked in clean() (a kept token counts as typed).
        self.fields["twilio_auth_token"].required = False
        if editing:
            self.fields[
                "twilio_auth_token"
            ].help_text = "Stored encrypted. Leave empty to keep the current token."
        else:
            del self.fields["enabled"]

    def clean(self) -> dict[str, Any]:
        super().clean()  # a Form's returns its cleaned_data
        data = self.cleaned_data
        if data.get("version_mode") == VersionMode.PINNED and not data.get("pinned_version"):
            self.add_error("pinned_version", "Pinned mode needs a version to pin.")
        if not data.get("name") and data.get("agent") and data.get("environment"):
            data["name"] = f"{data['agent'].name} · {data['environment']}"
        self._clean_token(data)
        return data

    def _clean_token(self, data: dict[str, Any]) -> None:
        """The token typed now, else the one kept from the last try; keep it for the next."""
        token = data.get("twilio_auth_token") or ""
        if not token and data.get("kept_token"):
            try:
                kept = signing.loads(
                    data["kept_token"], salt=self._token_salt, max_age=KEPT_TOKEN_MAX_AGE
                )
                token = crypto.decrypt(str(kept))
            except (signing.BadSignature, crypto.DecryptionError):
                self.add_error(
                    "twilio_auth_token", "The token you typed earlier expired: type it again."
                )
                return
        data["twilio_auth_token"] = token
        if not token and not self._editing:
            self.add_error("twilio_auth_token", "Enter the Auth Token.")
        if token:
            self.kept_token_value = signing.dumps(crypto.encrypt(token), salt=self._token_salt)
            # (The bound field copied its help text when the fields were cleaned: set it there.)
            self["twilio_auth_token"].help_text = (
                "The token you typed is kept (encrypted, not shown): leave this empty to use "
                "it, or type another."
            )
            self.fields["twilio_auth_token"].widget.attrs["placeholder"] = "•••••• kept, not shown"


def pinned_choices(workspace: Workspace, agent_id: str | int | None) -> QuerySet[AgentVersion]:
    """The versions of the workspace's agent `agent_id` (none when no agent is chosen)."""
    if agent_id is None or not str(agent_id).isdigit():
        return AgentVersion.objects.none()
    return AgentVersion.objects.filter(agent_id=agent_id, agent__workspace=workspace)


class VersionPickerForm(forms.Form):
    """Only the version field, re-rendered by htmx when the agent changes."""

    pinned_version = ConnectorForm.base_fields["pinned_version"]

    def __init__(
        self, *args: Any, workspace: Workspace, agent_id: str | int | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        pinned = cast(VersionChoiceField, self.fields["pinned_version"])  # declared above
        pinned.queryset = pinned_choices(workspace, agent_id)


class RolloutForm(forms.Form):
    """Rollout on the connector page: the agent's share, the existing line, the version split.
    The service validates the number against the destination policy and the candidate."""

    rollout_percent = forms.IntegerField(
        label="Calls to the agent (%)",
        min_value=0,
        max_value=100,
        help_text="The other callers go straight to the existing line. Sticky per caller.",
    )
    existing_line = forms.CharField(
        label="Existing line",
        max_length=40,
        required=False,
        help_text="Your team's current number in E.164, e.g. +31201234567.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )
    candidate_version = VersionChoiceField(
        label="Candidate version",
        queryset=AgentVersion.objects.none(),
        required=False,
        empty_label="No candidate (no split)",
        help_text="A published version to try on part of the agent's callers (canary / A-B).",
    )
    candidate_percent = forms.IntegerField(
        label="Agent calls to the candidate (%)",
        min_value=0,
        max_value=100,
        initial=0,
        help_text="The same caller always gets the same version.",
    )

    def __init__(self, *args: Any, workspace: Workspace, agent_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        candidate = cast(VersionChoiceField, self.fields["candidate_version"])  # declared above
        candidate.queryset = pinned_choices(workspace, agent_id)
