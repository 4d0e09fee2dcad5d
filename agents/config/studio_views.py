"""Environments: secrets (write-only values per environment), variables and auth connectors.

Secret values and credentials go in and are never rendered back: the page only says
“set · updated <time>” per environment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agents.config.models import (
    AuthConnector,
    AuthConnectorCredential,
    Environment,
    Secret,
    SecretValue,
    Variable,
    VariableValue,
)
from agents.config.selectors import (
    auth_connector_list,
    environment_list,
    secret_list,
    variable_list,
)
from agents.config.services import (
    auth_connector_create,
    auth_connector_delete,
    auth_connector_update,
    auth_credentials_set,
    secret_create,
    secret_delete,
    secret_set_value,
    secret_update,
    variable_create,
    variable_delete,
    variable_set_value,
)
from agents.config.studio_forms import (
    AllowedHostsForm,
    AuthConnectorForm,
    CredentialsForm,
    NamedForm,
    SecretForm,
    ValueForm,
)
from agents.config.webhooks import webhook_rows
from agents.tenancy.access import StudioRequest, studio_view
from agents.tenancy.models import Role
from agents.tenancy.studio_forms import service_errors_to_form

TABS = ("secrets", "variables", "auth", "webhooks")


def _back(tab: str) -> HttpResponse:
    return redirect(f"{reverse('studio:environment-list')}?tab={tab}")


Row = TypeVar("Row", SecretValue, VariableValue, AuthConnectorCredential)


def _per_environment(
    environments: list[Environment], stored: Iterable[Row]
) -> list[tuple[Environment, Row | None]]:
    """[(environment, stored row or None)] in the environments' order."""
    by_env = {row.environment_id: row for row in stored}
    return [(env, by_env.get(env.pk)) for env in environments]


def _page(
    request: StudioRequest,
    tab: str,
    bound_forms: dict[str, Form] | None = None,
    status: int = 200,
    new_secret: tuple[Environment, str] | None = None,
) -> HttpResponse:
    workspace = request.studio.workspace
    environments = list(environment_list(workspace=workspace))
    forms = bound_forms or {}
    context = {
        "tab": tab,
        "tabs": [
            ("secrets", "Secrets"),
            ("variables", "Variables"),
            ("auth", "Auth connectors"),
            ("webhooks", "Webhooks"),
        ],
        "environments": environments,
        "secret_form": forms.get("secrets") or SecretForm(prefix="secret"),
        "variable_form": forms.get("variables") or NamedForm(prefix="variable"),
        "auth_form": forms.get("auth") or AuthConnectorForm(prefix="auth"),
    }
    if tab == "secrets":
        context["secrets"] = [
            (s, _per_environment(environments, s.values.all()))
            for s in secret_list(workspace=workspace)
        ]
    elif tab == "variables":
        context["variables"] = [
            (v, _per_environment(environments, v.values.all()))
            for v in variable_list(workspace=workspace)
        ]
    elif tab == "webhooks":
        context["webhooks"] = webhook_rows(workspace=workspace, environments=environments)
        context["new_secret"] = new_secret
    else:
        context["auth_connectors"] = [
            (
                c,
                _per_environment(environments, c.credentials.all()),
                CredentialsForm(auth_connector=c, prefix=f"cred-{c.pk}"),
            )
            for c in auth_connector_list(workspace=workspace)
        ]
    return render(request, "studio/environments/index.html", context, status=status)


@require_GET
@studio_view(write_role=Role.ADMIN)
def environment_list_view(request: StudioRequest) -> HttpResponse:
    tab = request.GET.get("tab", "secrets")
    return _page(request, tab if tab in TABS else "secrets")


def _create(
    request: StudioRequest,
    tab: str,
    form: Form,
    service: Callable[..., Secret | Variable | AuthConnector],
    label: str,
) -> HttpResponse:
    if form.is_valid():
        try:
            obj = service(workspace=request.studio.workspace, **form.cleaned_data)
        except ValidationError as exc:
            service_errors_to_form(form, exc)
        else:
            messages.success(request, f"{label} {obj.name} created.")
            return _back(tab)
    return _page(request, tab, {tab: form}, status=400)


@require_POST
@studio_view(write_role=Role.ADMIN)
def secret_create_view(request: StudioRequest) -> HttpResponse:
    form = SecretForm(request.POST, prefix="secret")
    return _create(request, "secrets", form, secret_create, "Secret")


@require_POST
@studio_view(write_role=Role.ADMIN)
def variable_create_view(request: StudioRequest) -> HttpResponse:
    form = NamedForm(request.POST, prefix="variable")
    return _create(request, "variables", form, variable_create, "Variable")


@require_POST
@studio_view(write_role=Role.ADMIN)
def auth_connector_create_view(request: StudioRequest) -> HttpResponse:
    form = AuthConnectorForm(request.POST, prefix="auth")
    return _create(request, "auth", form, auth_connector_create, "Auth connector")


def _form_problem(form: Form) -> str:
    return " ".join(str(m) for errors in form.errors.values() for m in errors)


@require_POST
@studio_view(write_role=Role.ADMIN)
def secret_value_view(request: StudioRequest, secret_id: int) -> HttpResponse:
    secret = get_object_or_404(Secret, pk=secret_id, workspace=request.studio.workspace)
    form = ValueForm(request.POST, workspace=request.studio.workspace, secret=True)
    if not form.is_valid():
        messages.error(request, f"{secret.name}: {_form_problem(form)}")
        return _back("secrets")
    environment = form.cleaned_data["environment"]
    try:
        secret_set_value(secret=secret, environment=environment, value=form.cleaned_data["value"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"{secret.name} set for {environment}. It will not be shown again."
        )
    return _back("secrets")


@require_POST
@studio_view(write_role=Role.ADMIN)
def variable_value_view(request: StudioRequest, variable_id: int) -> HttpResponse:
    variable = get_object_or_404(Variable, pk=variable_id, workspace=request.studio.workspace)
    form = ValueForm(request.POST, workspace=request.studio.workspace)
    if not form.is_valid():
        messages.error(request, f"{variable.name}: {_form_problem(form)}")
        return _back("variables")
    environment = form.cleaned_data["environment"]
    variable_set_value(variable=variable, environment=environment, value=form.cleaned_data["value"])
    messages.success(request, f"{variable.name} saved for {environment}.")
    return _back("variables")


@require_POST
@studio_view(write_role=Role.ADMIN)
def auth_credentials_view(request: StudioRequest, auth_connector_id: int) -> HttpResponse:
    connector = get_object_or_404(
        AuthConnector, pk=auth_connector_id, workspace=request.studio.workspace
    )
    form = CredentialsForm(request.POST, auth_connector=connector, prefix=f"cred-{connector.pk}")
    if not form.is_valid():
        messages.error(request, f"{connector.name}: {_form_problem(form)}")
        return _back("auth")
    environment = form.cleaned_data["environment"]
    try:
        auth_credentials_set(
            auth_connector=connector, environment=environment, credentials=form.credentials()
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"{connector.name} credentials set for {environment}. They will not be shown again.",
        )
    return _back("auth")


DELETERS: dict[
    str, tuple[type[Secret | Variable | AuthConnector], Callable[..., None], str, str]
] = {
    "secret": (Secret, secret_delete, "secret", "secrets"),
    "variable": (Variable, variable_delete, "variable", "variables"),
    "auth": (AuthConnector, auth_connector_delete, "auth_connector", "auth"),
}


@require_POST
@studio_view(write_role=Role.ADMIN)
def environment_item_delete_view(request: StudioRequest, kind: str, item_id: int) -> HttpResponse:
    if kind not in DELETERS:
        raise Http404("Nothing of that kind.")
    model, service, argument, tab = DELETERS[kind]
    obj = get_object_or_404(model, pk=item_id, workspace=request.studio.workspace)
    assert isinstance(obj, Secret | Variable | AuthConnector)
    service(**{argument: obj})
    messages.success(request, f"{obj.name} deleted.")
    return _back(tab)


@require_POST
@studio_view(write_role=Role.ADMIN)
def allowed_hosts_view(request: StudioRequest, kind: str, item_id: int) -> HttpResponse:
    """Replace the hosts a secret or auth connector may be sent to."""
    if kind not in ("secret", "auth"):
        raise Http404("Nothing of that kind.")
    model, _service, _argument, tab = DELETERS[kind]
    obj = get_object_or_404(model, pk=item_id, workspace=request.studio.workspace)
    assert isinstance(obj, Secret | AuthConnector)
    form = AllowedHostsForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"{obj.name}: {_form_problem(form)}")
        return _back(tab)
    hosts = form.cleaned_data["allowed_hosts"]
    try:
        if isinstance(obj, Secret):
            secret_update(secret=obj, description=obj.description, allowed_hosts=hosts)
        elif isinstance(obj, AuthConnector):
            auth_connector_update(auth_connector=obj, allowed_hosts=hosts)
    except ValidationError as exc:
        messages.error(request, f"{obj.name}: {' '.join(exc.messages)}")
    else:
        messages.success(request, f"{obj.name} may be sent to: {_hosts_text(obj)}.")
    return _back(tab)


def _hosts_text(obj: Secret | AuthConnector) -> str:
    hosts = obj.allowed_hosts or []
    return ", ".join(hosts) if hosts else "nowhere"
