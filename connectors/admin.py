"""Admin of phone connectors: the Twilio auth token is write-only and never shown."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from connectors.models import PhoneConnector, RolloutChange, WorkspaceCallCap
from connectors.selectors import connector_resolve_version
from connectors.services import connector_check, connector_create, connector_update


class PhoneConnectorForm(forms.ModelForm[PhoneConnector]):
    new_auth_token = forms.CharField(
        label="Twilio auth token",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only and stored encrypted. Leave empty to keep the stored token.",
    )

    class Meta:
        model = PhoneConnector
        fields = [
            "workspace",
            "name",
            "agent",
            "environment",
            "version_mode",
            "pinned_version",
            "twilio_account_sid",
            "enabled",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()  # a ModelForm's returns its cleaned_data
        cleaned = self.cleaned_data
        if not self.instance.pk and not cleaned.get("new_auth_token"):
            self.add_error("new_auth_token", "Enter the Twilio auth token.")
        return cleaned

    # `_post_clean` (builds the instance) and `_update_errors` are Django's private form hooks,
    # which django-stubs leaves out.
    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if self.errors:
            return
        try:  # the same checks as the API: agent, environment and pinned version fit together
            connector_check(connector=self.instance)
        except ValidationError as exc:
            self._update_errors(exc)  # type: ignore[attr-defined]


@admin.register(PhoneConnector)
class PhoneConnectorAdmin(admin.ModelAdmin[PhoneConnector]):
    form = PhoneConnectorForm
    list_display = ["name", "workspace", "agent", "version_mode", "answering", "enabled"]
    list_filter = ["enabled", "version_mode"]
    search_fields = ["name", "identifier", "twilio_account_sid"]
    readonly_fields = ["identifier", "webhook_url", "auth_token", "answering", "created_at"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: PhoneConnector | None = None
    ) -> list[str] | tuple[str, ...]:
        return [*self.readonly_fields, "workspace"] if obj else self.readonly_fields

    @admin.display(description="Twilio auth token")
    def auth_token(self, connector: PhoneConnector) -> str:
        return "set" if connector.twilio_auth_token_ciphertext else "not set"

    @admin.display(description="Answering")
    def answering(self, connector: PhoneConnector) -> str:
        if not connector.pk:
            return "—"
        resolution = connector_resolve_version(connector=connector)
        return resolution.label or resolution.reason

    def save_model(
        self,
        request: HttpRequest,
        obj: PhoneConnector,
        form: PhoneConnectorForm,
        change: bool,
    ) -> None:
        token = form.cleaned_data.get("new_auth_token") or None
        if change:
            connector_update(connector=obj, twilio_auth_token=token)
            return
        created = connector_create(
            workspace=obj.workspace,
            name=obj.name,
            agent=obj.agent,
            environment=obj.environment,
            twilio_account_sid=obj.twilio_account_sid,
            twilio_auth_token=token or "",  # clean() required one; connector_create checks too
            version_mode=obj.version_mode,
            pinned_version=obj.pinned_version,
            enabled=obj.enabled,
        )
        obj.pk, obj.identifier = created.pk, created.identifier
        obj.twilio_auth_token_ciphertext = created.twilio_auth_token_ciphertext
        obj.created_at = created.created_at
        obj._state.adding = False


@admin.register(RolloutChange)
class RolloutChangeAdmin(admin.ModelAdmin[RolloutChange]):
    """The rollout audit: read only, as an audit is (changes are made on the connector)."""

    list_display = ["connector", "changed_by_name", "changed_at", "before_text", "after_text"]
    list_filter = ["changed_at"]
    readonly_fields = [
        "workspace",
        "connector",
        "changed_by",
        "changed_by_name",
        "changed_at",
        "before",
        "after",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WorkspaceCallCap)
class WorkspaceCallCapAdmin(admin.ModelAdmin[WorkspaceCallCap]):
    list_display = ["workspace", "max_concurrent_calls"]
