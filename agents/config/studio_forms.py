"""Studio forms of environments: secrets, variables, auth connectors and their credentials.

Forms only parse input; the services validate the domain rules and save.
"""

from __future__ import annotations

from typing import Any

from django import forms

from agents.config.models import AuthConnector, AuthKind, Environment
from agents.config.services import CREDENTIAL_KEYS
from agents.tenancy.models import Workspace


class NamedForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="Letters, digits, underscores: CRM_API_KEY.")
    description = forms.CharField(max_length=200, required=False)


def allowed_hosts_field() -> forms.CharField:
    return forms.CharField(
        max_length=4000,
        required=False,
        label="Allowed hosts",
        help_text="Host names it may be sent to, separated by commas: api.example.com, "
        "*.example.com. Empty: sent nowhere.",
    )


class SecretForm(NamedForm):
    allowed_hosts = allowed_hosts_field()


class AllowedHostsForm(forms.Form):
    """The hosts a secret or an auth connector may be sent to (admins only)."""

    allowed_hosts = allowed_hosts_field()


class ValueForm(forms.Form):
    """A value for one environment. Secret values use a password input and are never shown."""

    environment = forms.ModelChoiceField(queryset=Environment.objects.none())
    value = forms.CharField(required=False, strip=False)

    def __init__(self, *args: Any, workspace: Workspace, secret: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        environment = self.fields["environment"]
        assert isinstance(environment, forms.ModelChoiceField)
        environment.queryset = Environment.objects.filter(workspace=workspace)
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
    allowed_hosts = allowed_hosts_field()


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

    def __init__(self, *args: Any, auth_connector: AuthConnector, **kwargs: Any):
        super().__init__(*args, **kwargs)
        environment = self.fields["environment"]
        assert isinstance(environment, forms.ModelChoiceField)
        environment.queryset = Environment.objects.filter(workspace_id=auth_connector.workspace_id)
        for key in CREDENTIAL_KEYS[AuthKind(auth_connector.kind)]:
            widget = forms.TextInput() if key in ("username", "client_id") else None
            self.fields[key] = forms.CharField(
                label=CREDENTIAL_LABELS[key],
                strip=False,
                widget=widget or forms.PasswordInput(render_value=False),
            )

    def credentials(self) -> dict[str, str]:
        return {k: v for k, v in self.cleaned_data.items() if k != "environment"}
