"""Admin of the agents app.

Secret values and credentials are never shown: the admin says "set" / "not set" and takes a new
value in a write-only form field, which is encrypted through the services. Versions are
read-only; only their status changes, through admin actions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypedDict, TypeVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from agents.config.services import (
    CREDENTIAL_KEYS,
    auth_credentials_set,
    secret_set_value,
    workspace_create,
)
from agents.definitions.versions import (
    DRAFT_FIELDS,
    action_full_clean,
    agent_draft_check,
    agent_publish,
    version_lock,
    version_republish,
    version_unpublish,
)
from agents.models import (
    Agent,
    AgentAction,
    AgentVersion,
    AuthConnector,
    AuthConnectorCredential,
    AuthKind,
    Environment,
    EnvironmentWebhook,
    Membership,
    Secret,
    SecretValue,
    Variable,
    VariableValue,
    VersionStatus,
    Workspace,
)
from agents.testing import admin as testing_admin  # noqa: F401 (registers its pages)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

SET, NOT_SET = "set", "not set"

_M = TypeVar("_M", bound=models.Model)
_Inlines = list[type[InlineModelAdmin[Any, Any]]] | tuple[type[InlineModelAdmin[Any, Any]], ...]


# Tenancy -------------------------------------------------------------------------------------


class MembershipInline(admin.TabularInline[Membership, Workspace]):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


class EnvironmentInline(admin.TabularInline[Environment, Workspace]):
    model = Environment
    extra = 0
    can_delete = False
    readonly_fields = ["kind"]

    def has_add_permission(self, request: HttpRequest, obj: Workspace | None = None) -> bool:
        return False


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin[Workspace]):
    list_display = ["name", "slug", "recording_retention_days", "created_at"]
    search_fields = ["name", "slug"]

    def get_fields(self, request: HttpRequest, obj: Workspace | None = None) -> tuple[str, ...]:
        if obj is None:  # the slug, environments and owner come from workspace_create
            return ("name", "recording_retention_days")
        return ("name", "slug", "recording_retention_days")

    def get_readonly_fields(self, request: HttpRequest, obj: Workspace | None = None) -> list[str]:
        return ["slug"] if obj else []

    def get_inlines(self, request: HttpRequest, obj: Workspace | None) -> _Inlines:
        return [MembershipInline, EnvironmentInline] if obj else []

    def save_model(
        self, request: HttpRequest, obj: Workspace, form: forms.ModelForm[Workspace], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = workspace_create(name=obj.name, owner=request.user)
        created.recording_retention_days = obj.recording_retention_days
        created.save(update_fields=["recording_retention_days"])
        obj.pk, obj.slug, obj.created_at = created.pk, created.slug, created.created_at
        obj._state.adding = False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "workspace__name"]
    raw_id_fields = ["user"]


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin[Environment]):
    """Three fixed environments per workspace, made by workspace_create."""

    list_display = ["workspace", "kind"]
    list_filter = ["kind"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Environment | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Environment | None = None) -> bool:
        return False


# Agents, versions, actions -------------------------------------------------------------------


class ServiceCheckedForm(forms.ModelForm[_M]):
    """Runs the same validation as the services (and so the API) on the built instance."""

    def service_check(self, instance: _M) -> None:
        raise NotImplementedError

    # `_post_clean` (builds the instance) and `_update_errors` are Django's private form hooks,
    # which django-stubs leaves out.
    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if self.errors:
            return
        try:
            self.service_check(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)  # type: ignore[attr-defined]


class AgentForm(ServiceCheckedForm[Agent]):
    class Meta:
        model = Agent
        fields = ["workspace", *DRAFT_FIELDS]

    def service_check(self, instance: Agent) -> None:
        agent_draft_check(agent=instance)


class _LatestNumber(TypedDict):
    latest_number: int | None


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin[Agent]):
    form = AgentForm
    list_display = ["name", "workspace", "brain", "latest_version", "updated_at"]
    list_filter = ["brain", "workspace"]
    search_fields = ["name"]
    actions = ["publish_draft"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return super().get_queryset(request).annotate(latest_number=models.Max("versions__number"))

    @admin.display(description="Latest version", ordering="latest_number")
    def latest_version(self, agent: WithAnnotations[Agent, _LatestNumber]) -> str:
        return f"v{agent.latest_number}" if agent.latest_number else "—"

    @admin.action(description="Publish the draft as a new version", permissions=["change"])
    def publish_draft(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset:
            try:
                version = agent_publish(
                    agent=agent, note="Published from the admin", user=request.user
                )
            except ValidationError as exc:
                self.message_user(
                    request, f"{agent.name}: {' '.join(exc.messages)}", messages.ERROR
                )
            else:
                self.message_user(request, f"{agent.name}: published {version.label}.")


class _VersionService(Protocol):
    def __call__(self, *, version: AgentVersion) -> object: ...


@admin.register(AgentVersion)
class AgentVersionAdmin(admin.ModelAdmin[AgentVersion]):
    """Read-only: content never changes. Status changes go through the admin actions below,
    which call the same services as the API; published or locked versions cannot be deleted."""

    list_display = ["agent", "label", "status", "locked", "note", "created_by", "published_at"]
    list_filter = ["status", "locked"]
    search_fields = ["agent__name", "note"]
    actions = ["unpublish", "republish", "lock"]
    readonly_fields = [
        "agent",
        "number",
        "status",
        "locked",
        "note",
        "snapshot",
        "created_by",
        "created_at",
        "published_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from publishing a draft

    def has_change_permission(self, request: HttpRequest, obj: AgentVersion | None = None) -> bool:
        return False

    def has_status_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("agents.change_agentversion")

    def has_delete_permission(self, request: HttpRequest, obj: AgentVersion | None = None) -> bool:
        if obj is not None and (obj.locked or obj.status == VersionStatus.PUBLISHED):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(
        self, request: HttpRequest
    ) -> dict[str, tuple[Callable[..., str], str, str] | None]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a bulk delete would bypass AgentVersion.delete
        return actions

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AgentVersion]) -> None:
        for version in queryset:
            version.delete()

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[AgentVersion],
        service: _VersionService,
        done: str,
    ) -> None:
        for version in queryset:
            try:
                service(version=version)
            except ValidationError as exc:
                self.message_user(request, f"{version}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{version}: {done}.")

    @admin.action(description="Unpublish", permissions=["status"])
    def unpublish(self, request: HttpRequest, queryset: QuerySet[AgentVersion]) -> None:
        self._apply(request, queryset, version_unpublish, "unpublished")

    @admin.action(description="Publish again", permissions=["status"])
    def republish(self, request: HttpRequest, queryset: QuerySet[AgentVersion]) -> None:
        self._apply(request, queryset, version_republish, "published")

    @admin.action(description="Lock (can never be unpublished)", permissions=["status"])
    def lock(self, request: HttpRequest, queryset: QuerySet[AgentVersion]) -> None:
        self._apply(request, queryset, version_lock, "locked")


class AgentActionForm(ServiceCheckedForm[AgentAction]):
    """Name shared with handover actions, and the keys each kind of action needs."""

    class Meta:
        model = AgentAction
        fields = ["agent", "name", "description", "kind", "config"]

    def service_check(self, instance: AgentAction) -> None:
        action_full_clean(action=instance)


@admin.register(AgentAction)
class AgentActionAdmin(admin.ModelAdmin[AgentAction]):
    form = AgentActionForm
    list_display = ["name", "agent", "kind"]
    list_filter = ["kind"]
    search_fields = ["name", "agent__name"]


# Secrets, variables, auth connectors ---------------------------------------------------------


class InlinesOnceSavedMixin:
    """Per-environment rows need the saved parent (its workspace has the environments)."""

    inlines: ClassVar[_Inlines]

    def get_inlines(self, request: HttpRequest, obj: models.Model | None) -> _Inlines:
        return self.inlines if obj else []


# What has rows per environment of its workspace, edited inline.
_ScopedParent = Secret | Variable | AuthConnector


class ParentScopedForm(forms.ModelForm[_M]):
    """The form of a ParentScopedInline row: knows the saved parent (None while adding)."""

    parent: _ScopedParent | None = None


class ParentScopedInline(admin.TabularInline[_M, _ScopedParent]):
    """Inline rows per environment of the parent's workspace; the form knows its parent."""

    extra = 0
    form: type[forms.ModelForm[Any]] = ParentScopedForm

    def get_formset(
        self, request: HttpRequest, obj: _ScopedParent | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet[_M, _ScopedParent, forms.ModelForm[_M]]]:
        formset = super().get_formset(request, obj, **kwargs)
        form = formset.form
        if issubclass(form, ParentScopedForm):  # always: built from `form` above
            form.parent = obj
        environments = Environment.objects.filter(workspace=obj.workspace) if obj else None
        field = form.base_fields.get("environment")
        if isinstance(field, forms.ModelChoiceField):  # the model's foreign key, when shown
            field.queryset = environments if obj else Environment.objects.none()
        return formset


class SecretValueForm(ParentScopedForm[SecretValue]):
    """The value is write-only: never rendered back, encrypted by secret_set_value."""

    parent: Secret | None = None
    new_value = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the stored value.",
    )

    class Meta:
        model = SecretValue
        fields = ["environment"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["environment"].disabled = True

    def clean(self) -> dict[str, Any]:
        super().clean()  # a ModelForm's returns its cleaned_data
        cleaned = self.cleaned_data
        if not self.instance.pk and not cleaned.get("new_value") and not cleaned.get("DELETE"):
            self.add_error("new_value", "Enter the value for this environment.")
        return cleaned


class SecretValueInline(ParentScopedInline[SecretValue]):
    model = SecretValue
    form = SecretValueForm
    fields = ["environment", "state", "new_value", "updated_at"]
    readonly_fields = ["state", "updated_at"]

    @admin.display(description="Value")
    def state(self, obj: SecretValue | None) -> str:
        return SET if obj and obj.pk and obj.ciphertext else NOT_SET


@admin.register(Secret)
class SecretAdmin(InlinesOnceSavedMixin, admin.ModelAdmin[Secret]):
    list_display = ["name", "workspace", "environments_set", "created_at"]
    search_fields = ["name"]
    inlines = [SecretValueInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Secret | None = None) -> list[str]:
        return ["workspace", "name"] if obj else []

    @admin.display(description="Value set in")
    def environments_set(self, secret: Secret) -> str:
        kinds = [v.environment.get_kind_display() for v in secret.values.all()]
        return ", ".join(kinds) or NOT_SET

    def get_queryset(self, request: HttpRequest) -> QuerySet[Secret]:
        return super().get_queryset(request).prefetch_related("values__environment")

    def save_formset(
        self,
        request: HttpRequest,
        form: forms.ModelForm[Secret],
        formset: BaseInlineFormSet[SecretValue, Secret, SecretValueForm],
        change: bool,
    ) -> None:
        if formset.model is not SecretValue:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)  # only to collect what changed, for the admin's history
        for deleted in formset.deleted_objects:
            deleted.delete()
        for value_form in formset.forms:
            if value_form in formset.deleted_forms:
                continue
            if value_form.cleaned_data.get("new_value"):
                secret_set_value(
                    secret=form.instance,
                    environment=value_form.cleaned_data["environment"],
                    value=value_form.cleaned_data["new_value"],
                )


@admin.register(SecretValue)
class SecretValueAdmin(admin.ModelAdmin[SecretValue]):
    """Listing only; values are set on the secret's page."""

    list_display = ["secret", "environment", "state", "updated_at"]
    fields = readonly_fields = ("secret", "environment", "state", "updated_at")

    @admin.display(description="Value")
    def state(self, obj: SecretValue) -> str:
        return SET if obj.ciphertext else NOT_SET

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SecretValue | None = None) -> bool:
        return False


class VariableValueInline(ParentScopedInline[VariableValue]):
    model = VariableValue
    fields = ["environment", "value"]


@admin.register(Variable)
class VariableAdmin(InlinesOnceSavedMixin, admin.ModelAdmin[Variable]):
    list_display = ["name", "workspace", "description"]
    search_fields = ["name"]
    inlines = [VariableValueInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Variable | None = None) -> list[str]:
        return ["workspace", "name"] if obj else []


@admin.register(VariableValue)
class VariableValueAdmin(admin.ModelAdmin[VariableValue]):
    list_display = ["variable", "environment", "value"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class AuthConnectorCredentialForm(ParentScopedForm[AuthConnectorCredential]):
    """Credentials are write-only; which fields are needed depends on the connector's kind."""

    parent: AuthConnector | None = None
    token = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    username = forms.CharField(required=False)
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    client_id = forms.CharField(required=False)
    client_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = AuthConnectorCredential
        fields = ["environment"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["environment"].disabled = True

    def credentials(self) -> dict[str, Any]:
        kind = self.parent.kind if self.parent else None
        keys = CREDENTIAL_KEYS.get(AuthKind(kind), ()) if kind in AuthKind.values else ()
        return {k: self.cleaned_data.get(k) for k in keys}

    def clean(self) -> dict[str, Any]:
        super().clean()  # a ModelForm's returns its cleaned_data
        cleaned = self.cleaned_data
        if cleaned.get("DELETE") or self.parent is None:
            return cleaned
        given = self.credentials()
        missing = [k for k, v in given.items() if not v]
        if missing and (not self.instance.pk or len(missing) < len(given)):
            self.add_error(None, f"Enter {', '.join(missing)} for a {self.parent.kind} connector.")
        return cleaned


class AuthConnectorCredentialInline(ParentScopedInline[AuthConnectorCredential]):
    model = AuthConnectorCredential
    form = AuthConnectorCredentialForm
    fields = [
        "environment",
        "state",
        "token",
        "key",
        "username",
        "password",
        "client_id",
        "client_secret",
        "updated_at",
    ]
    readonly_fields = ["state", "updated_at"]

    @admin.display(description="Credentials")
    def state(self, obj: AuthConnectorCredential | None) -> str:
        return SET if obj and obj.pk and obj.ciphertext else NOT_SET


@admin.register(AuthConnector)
class AuthConnectorAdmin(InlinesOnceSavedMixin, admin.ModelAdmin[AuthConnector]):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "workspace", "kind"]
    list_filter = ["kind"]
    search_fields = ["name"]
    inlines = [AuthConnectorCredentialInline]

    def get_readonly_fields(
        self, request: HttpRequest, obj: AuthConnector | None = None
    ) -> list[str]:
        return ["workspace", "name", "kind"] if obj else []

    def save_formset(
        self,
        request: HttpRequest,
        form: forms.ModelForm[AuthConnector],
        formset: BaseInlineFormSet[
            AuthConnectorCredential, AuthConnector, AuthConnectorCredentialForm
        ],
        change: bool,
    ) -> None:
        if formset.model is not AuthConnectorCredential:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)  # only to collect what changed, for the admin's history
        for deleted in formset.deleted_objects:
            deleted.delete()
        for credential_form in formset.forms:
            if credential_form in formset.deleted_forms:
                continue
            if credential_form.has_changed() and all(credential_form.credentials().values()):
                auth_credentials_set(
                    auth_connector=form.instance,
                    environment=credential_form.cleaned_data["environment"],
                    credentials=credential_form.credentials(),
                )


@admin.register(AuthConnectorCredential)
class AuthConnectorCredentialAdmin(admin.ModelAdmin[AuthConnectorCredential]):
    list_display = ["auth_connector", "environment", "state", "updated_at"]
    fields = readonly_fields = ("auth_connector", "environment", "state", "updated_at")

    @admin.display(description="Credentials")
    def state(self, obj: AuthConnectorCredential) -> str:
        return SET if obj.ciphertext else NOT_SET

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: AuthConnectorCredential | None = None
    ) -> bool:
        return False


@admin.register(EnvironmentWebhook)
class EnvironmentWebhookAdmin(admin.ModelAdmin[EnvironmentWebhook]):
    """URL and on/off only; the signing secret is generated (and shown once) in Studio."""

    list_display = ["environment", "url", "enabled", "secret_rotated_at"]
    fields = ["environment", "url", "enabled", "secret_rotated_at"]
    readonly_fields = ["environment", "secret_rotated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
