"""REST API of the agents app: agents and their draft, versions, actions, environments,
secrets, variables, auth connectors and members. Thin: parse, call a service or selector,
render. Every lookup goes through the request's workspace (see agents.tenancy.permissions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.models import Manager, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from agents.config import selectors as environment_selectors
from agents.config import services as environment_services
from agents.definitions import selectors
from agents.definitions import versions as version_services
from agents.models import (
    Agent,
    AgentAction,
    AgentVersion,
    AuthConnector,
    Environment,
    Membership,
    Secret,
    Variable,
)
from agents.serializers import (
    AgentActionInputSerializer,
    AgentActionOutputSerializer,
    AgentOutputSerializer,
    AuthConnectorInputSerializer,
    AuthConnectorOutputSerializer,
    AuthConnectorUpdateInputSerializer,
    AuthCredentialsInputSerializer,
    DraftInputSerializer,
    DraftOutputSerializer,
    DraftPatchInputSerializer,
    EnvironmentOutputSerializer,
    MemberCreateInputSerializer,
    MemberOutputSerializer,
    MemberUpdateInputSerializer,
    PublishInputSerializer,
    SecretInputSerializer,
    SecretOutputSerializer,
    SecretUpdateInputSerializer,
    SecretValueInputSerializer,
    VariableInputSerializer,
    VariableOutputSerializer,
    VariableUpdateInputSerializer,
    VariableValueInputSerializer,
    VersionDetailOutputSerializer,
    VersionOutputSerializer,
)
from agents.tenancy import selectors as tenancy_selectors
from agents.tenancy import services as workspace_services
from agents.tenancy.permissions import AdminWrites, EditorWrites, WorkspaceScopedMixin

AGENT_ID_PARAMETER = OpenApiParameter(
    "agent_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The agent's id."
)


def _valid(
    serializer_class: type[serializers.Serializer[Any]],
    request: Request,
    *,
    partial: bool = False,
    **context: Any,
) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, partial=partial, context=context)
    serializer.is_valid(raise_exception=True)
    validated: dict[str, Any] = serializer.validated_data
    return validated


class WorkspaceViewSet(WorkspaceScopedMixin, viewsets.GenericViewSet[Any]):
    """Base of the API viewsets: explicit methods, explicit serializers, workspace scoping."""

    permission_classes = [IsAuthenticated, EditorWrites]

    lookup_value_regex = r"\d+"

    def _page(
        self, queryset: QuerySet[Any], output_class: type[serializers.Serializer[Any]]
    ) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(output_class(page, many=True).data)

    def get_object(self) -> Any:
        """The object a detail route names, looked up in the workspace (404 otherwise)."""
        raise NotImplementedError(f"{type(self).__name__} has no detail routes")

    def check_route_objects(self) -> None:
        """404 unless what the URL names exists in the workspace."""
        if self.detail:
            self.get_object()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication and permissions: like GET, OPTIONS on an object that is not in
        the workspace is a 404 (stellar.api_metadata describes only the endpoint)."""
        super().initial(request, *args, **kwargs)
        if request.method == "OPTIONS":
            self.check_route_objects()


# Agents and the draft --------------------------------------------------------------------------


class AgentViewSet(WorkspaceViewSet):
    """Agents; the draft is the agent's own fields, publishing snapshots it into a version."""

    queryset = Agent.objects.none()

    def _agent(self) -> Agent:
        return get_object_or_404(
            selectors.agent_list(workspace=self.workspace), pk=self.kwargs["pk"]
        )

    def get_object(self) -> Agent:
        return self._agent()

    def _output(self, agent: Agent, *, status_code: int = status.HTTP_200_OK) -> Response:
        annotated = selectors.agent_list_with_latest_version(workspace=self.workspace).get(
            pk=agent.pk
        )
        return Response(AgentOutputSerializer(annotated).data, status=status_code)

    @extend_schema(responses=AgentOutputSerializer(many=True))
    def list(self, request: Request) -> Response:
        agents = selectors.agent_list_with_latest_version(workspace=self.workspace)
        return self._page(agents, AgentOutputSerializer)

    @extend_schema(request=DraftInputSerializer, responses={201: AgentOutputSerializer})
    def create(self, request: Request) -> Response:
        data = _valid(DraftInputSerializer, request)
        agent = version_services.agent_create(workspace=self.workspace, **data)
        return self._output(agent, status_code=status.HTTP_201_CREATED)

    @extend_schema(responses=AgentOutputSerializer)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return self._output(self._agent())

    @extend_schema(request=DraftInputSerializer, responses=AgentOutputSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(DraftInputSerializer, request)
        return self._output(version_services.agent_update_draft(agent=self._agent(), **data))

    @extend_schema(request=DraftPatchInputSerializer, responses=AgentOutputSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(DraftPatchInputSerializer, request)
        return self._output(version_services.agent_update_draft(agent=self._agent(), **data))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        version_services.agent_delete(agent=self._agent())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=DraftOutputSerializer)
    @action(detail=True, methods=["get"])
    def draft(self, request: Request, pk: str | None = None) -> Response:
        return Response(DraftOutputSerializer(self._agent()).data)

    @extend_schema(request=DraftInputSerializer, responses=DraftOutputSerializer)
    @draft.mapping.put
    def draft_update(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(DraftInputSerializer, request)
        agent = version_services.agent_update_draft(agent=self._agent(), **data)
        return Response(DraftOutputSerializer(agent).data)

    @extend_schema(request=DraftPatchInputSerializer, responses=DraftOutputSerializer)
    @draft.mapping.patch
    def draft_partial_update(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(DraftPatchInputSerializer, request)
        agent = version_services.agent_update_draft(agent=self._agent(), **data)
        return Response(DraftOutputSerializer(agent).data)

    @extend_schema(request=PublishInputSerializer, responses={201: VersionDetailOutputSerializer})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(PublishInputSerializer, request)
        version = version_services.agent_publish(
            agent=self._agent(), note=data["note"], user=request.user
        )
        return Response(VersionDetailOutputSerializer(version).data, status=status.HTTP_201_CREATED)


class AgentScopedViewSet(WorkspaceViewSet):
    """Viewsets nested under /agents/{agent_id}/."""

    def _parent(self) -> Agent:
        if not hasattr(self, "_parent_agent"):
            agents = selectors.agent_list(workspace=self.workspace)
            self._parent_agent = get_object_or_404(agents, pk=self.kwargs["agent_id"])
        return self._parent_agent

    def check_route_objects(self) -> None:
        self._parent()
        super().check_route_objects()


@extend_schema_view(
    list=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    retrieve=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    unpublish=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    republish=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    lock=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    restore=extend_schema(parameters=[AGENT_ID_PARAMETER]),
)
class AgentVersionViewSet(AgentScopedViewSet):
    """Versions are immutable: read them, change their status, lock them or restore them into
    the draft. PUT, PATCH and DELETE are not offered (405)."""

    queryset = AgentVersion.objects.none()
    lookup_field = "number"

    def _version(self) -> AgentVersion:
        versions = selectors.agent_version_list(agent=self._parent())
        return get_object_or_404(versions, number=self.kwargs["number"])

    def get_object(self) -> AgentVersion:
        return self._version()

    @extend_schema(responses=VersionOutputSerializer(many=True))
    def list(self, request: Request, agent_id: str | None = None) -> Response:
        return self._page(
            selectors.agent_version_list(agent=self._parent()), VersionOutputSerializer
        )

    @extend_schema(responses=VersionDetailOutputSerializer)
    def retrieve(
        self, request: Request, agent_id: str | None = None, number: str | None = None
    ) -> Response:
        return Response(VersionDetailOutputSerializer(self._version()).data)

    @extend_schema(request=None, responses=VersionDetailOutputSerializer)
    @action(detail=True, methods=["post"])
    def unpublish(
        self, request: Request, agent_id: str | None = None, number: str | None = None
    ) -> Response:
        version = version_services.version_unpublish(version=self._version())
        return Response(VersionDetailOutputSerializer(version).data)

    @extend_schema(request=None, responses=VersionDetailOutputSerializer)
    @action(detail=True, methods=["post"])
    def republish(
        self, request: Request, agent_id: str | None = None, number: str | None = None
    ) -> Response:
        version = version_services.version_republish(version=self._version())
        return Response(VersionDetailOutputSerializer(version).data)

    @extend_schema(request=None, responses=VersionDetailOutputSerializer)
    @action(detail=True, methods=["post"])
    def lock(
        self, request: Request, agent_id: str | None = None, number: str | None = None
    ) -> Response:
        version = version_services.version_lock(version=self._version())
        return Response(VersionDetailOutputSerializer(version).data)

    @extend_schema(request=None, responses=DraftOutputSerializer)
    @action(detail=True, methods=["post"])
    def restore(
        self, request: Request, agent_id: str | None = None, number: str | None = None
    ) -> Response:
        """Copy this version (fields, actions, handover actions) back into the draft."""
        agent = version_services.agent_restore(agent=self._parent(), version=self._version())
        return Response(DraftOutputSerializer(agent).data)


ActionModel = TypeVar("ActionModel", bound=models.Model)


class AgentActionsViewSet(AgentScopedViewSet, Generic[ActionModel]):
    """One kind of the agent's actions at /agents/{agent_id}/<kind>/: list, create, retrieve,
    update, partial update and destroy, through the kind's services. A subclass names the
    agent's related manager and the serializers, implements the three writes, and is decorated
    with `agent_actions_schema(input, output)`."""

    related_name: str
    input_serializer: type[serializers.Serializer[Any]]
    output_serializer: type[serializers.Serializer[Any]]

    def action_create(self, agent: Agent, data: dict[str, Any]) -> ActionModel:
        raise NotImplementedError

    def action_update(self, action: ActionModel, data: dict[str, Any]) -> ActionModel:
        raise NotImplementedError

    def action_delete(self, action: ActionModel) -> None:
        raise NotImplementedError

    def _actions(self) -> QuerySet[ActionModel]:
        manager: Manager[ActionModel] = getattr(self._parent(), self.related_name)
        return manager.all()

    def _action(self) -> ActionModel:
        return get_object_or_404(self._actions(), pk=self.kwargs["pk"])

    def get_object(self) -> ActionModel:
        return self._action()

    def _output(self, action: ActionModel, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(self.output_serializer(action).data, status=status_code)

    def list(self, request: Request, agent_id: str | None = None) -> Response:
        return self._page(self._actions(), self.output_serializer)

    # The agent or action is looked up before the body is validated: 404 comes before 400.
    def create(self, request: Request, agent_id: str | None = None) -> Response:
        agent = self._parent()
        data = _valid(self.input_serializer, request)
        return self._output(self.action_create(agent, data), status.HTTP_201_CREATED)

    def retrieve(
        self, request: Request, agent_id: str | None = None, pk: str | None = None
    ) -> Response:
        return self._output(self._action())

    def update(
        self, request: Request, agent_id: str | None = None, pk: str | None = None
    ) -> Response:
        action = self._action()
        data = _valid(self.input_serializer, request)
        return self._output(self.action_update(action, data))

    def partial_update(
        self, request: Request, agent_id: str | None = None, pk: str | None = None
    ) -> Response:
        action = self._action()
        data = _valid(self.input_serializer, request, partial=True)
        return self._output(self.action_update(action, data))

    def destroy(
        self, request: Request, agent_id: str | None = None, pk: str | None = None
    ) -> Response:
        self.action_delete(self._action())
        return Response(status=status.HTTP_204_NO_CONTENT)


def agent_actions_schema(
    input_serializer: type[serializers.Serializer[Any]],
    output_serializer: type[serializers.Serializer[Any]],
) -> Callable[[type[AgentActionsViewSet[Any]]], type[AgentActionsViewSet[Any]]]:
    """The OpenAPI description of an AgentActionsViewSet subclass: the agent_id path parameter
    and the kind's serializers on every operation."""
    parameters = [AGENT_ID_PARAMETER]
    return extend_schema_view(
        list=extend_schema(parameters=parameters, responses=output_serializer(many=True)),
        create=extend_schema(
            parameters=parameters, request=input_serializer, responses={201: output_serializer}
        ),
        retrieve=extend_schema(parameters=parameters, responses=output_serializer),
        update=extend_schema(
            parameters=parameters, request=input_serializer, responses=output_serializer
        ),
        partial_update=extend_schema(
            parameters=parameters, request=input_serializer, responses=output_serializer
        ),
        destroy=extend_schema(parameters=parameters, responses={204: None}),
    )


@agent_actions_schema(AgentActionInputSerializer, AgentActionOutputSerializer)
class AgentActionViewSet(AgentActionsViewSet[AgentAction]):
    """The draft's actions (static response, API call, end call, send SMS)."""

    queryset = AgentAction.objects.none()
    related_name = "actions"
    input_serializer = AgentActionInputSerializer
    output_serializer = AgentActionOutputSerializer

    def action_create(self, agent: Agent, data: dict[str, Any]) -> AgentAction:
        return version_services.agent_action_create(agent=agent, **data)

    def action_update(self, action: AgentAction, data: dict[str, Any]) -> AgentAction:
        return version_services.agent_action_update(action=action, **data)

    def action_delete(self, action: AgentAction) -> None:
        version_services.agent_action_delete(action=action)


# Environments and what differs per environment -----------------------------------------------


class EnvironmentViewSet(WorkspaceViewSet):
    """Development, Staging and Production: fixed, one of each per workspace."""

    queryset = Environment.objects.none()

    @extend_schema(responses=EnvironmentOutputSerializer(many=True))
    def list(self, request: Request) -> Response:
        environments = environment_selectors.environment_list(workspace=self.workspace)
        return self._page(environments, EnvironmentOutputSerializer)

    def get_object(self) -> Environment:
        environments = environment_selectors.environment_list(workspace=self.workspace)
        return get_object_or_404(environments, pk=self.kwargs["pk"])

    @extend_schema(responses=EnvironmentOutputSerializer)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(EnvironmentOutputSerializer(self.get_object()).data)


class SecretViewSet(WorkspaceViewSet):
    """Secrets: values are write-only and stored encrypted; responses only say which
    environments have a value and since when."""

    queryset = Secret.objects.none()
    permission_classes = [IsAuthenticated, AdminWrites]

    def _secret(self) -> Secret:
        secrets = environment_selectors.secret_list(workspace=self.workspace)
        return get_object_or_404(secrets, pk=self.kwargs["pk"])

    def get_object(self) -> Secret:
        return self._secret()

    def _output(self, secret: Secret, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = environment_selectors.secret_list(workspace=self.workspace).get(pk=secret.pk)
        return Response(SecretOutputSerializer(fresh).data, status=status_code)

    @extend_schema(responses=SecretOutputSerializer(many=True))
    def list(self, request: Request) -> Response:
        return self._page(
            environment_selectors.secret_list(workspace=self.workspace), SecretOutputSerializer
        )

    @extend_schema(request=SecretInputSerializer, responses={201: SecretOutputSerializer})
    def create(self, request: Request) -> Response:
        data = _valid(SecretInputSerializer, request)
        secret = environment_services.secret_create(workspace=self.workspace, **data)
        return self._output(secret, status.HTTP_201_CREATED)

    @extend_schema(responses=SecretOutputSerializer)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(SecretOutputSerializer(self._secret()).data)

    @extend_schema(request=SecretUpdateInputSerializer, responses=SecretOutputSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        secret = self._secret()
        data = _valid(SecretUpdateInputSerializer, request, instance=secret)
        return self._output(environment_services.secret_update(secret=secret, **data))

    @extend_schema(request=SecretUpdateInputSerializer, responses=SecretOutputSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        secret = self._secret()
        data = _valid(SecretUpdateInputSerializer, request, partial=True, instance=secret)
        data.setdefault("description", secret.description)
        return self._output(environment_services.secret_update(secret=secret, **data))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        environment_services.secret_delete(secret=self._secret())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=SecretValueInputSerializer, responses=SecretOutputSerializer)
    @action(detail=True, methods=["post"])
    def values(self, request: Request, pk: str | None = None) -> Response:
        """Set the secret's value in one environment (encrypted; never returned)."""
        secret = self._secret()
        data = _valid(SecretValueInputSerializer, request, workspace=self.workspace)
        environment_services.secret_set_value(secret=secret, **data)
        return self._output(secret)


class VariableViewSet(WorkspaceViewSet):
    """Plain (non-secret) values per environment, used as {{ variables.NAME }}."""

    queryset = Variable.objects.none()
    permission_classes = [IsAuthenticated, AdminWrites]

    def _variable(self) -> Variable:
        variables = environment_selectors.variable_list(workspace=self.workspace)
        return get_object_or_404(variables, pk=self.kwargs["pk"])

    def get_object(self) -> Variable:
        return self._variable()

    def _output(self, variable: Variable, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = environment_selectors.variable_list(workspace=self.workspace).get(pk=variable.pk)
        return Response(VariableOutputSerializer(fresh).data, status=status_code)

    @extend_schema(responses=VariableOutputSerializer(many=True))
    def list(self, request: Request) -> Response:
        variables = environment_selectors.variable_list(workspace=self.workspace)
        return self._page(variables, VariableOutputSerializer)

    @extend_schema(request=VariableInputSerializer, responses={201: VariableOutputSerializer})
    def create(self, request: Request) -> Response:
        data = _valid(VariableInputSerializer, request)
        variable = environment_services.variable_create(workspace=self.workspace, **data)
        return self._output(variable, status.HTTP_201_CREATED)

    @extend_schema(responses=VariableOutputSerializer)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(VariableOutputSerializer(self._variable()).data)

    @extend_schema(request=VariableUpdateInputSerializer, responses=VariableOutputSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        variable = self._variable()
        data = _valid(VariableUpdateInputSerializer, request, instance=variable)
        return self._output(environment_services.variable_update(variable=variable, **data))

    @extend_schema(request=VariableUpdateInputSerializer, responses=VariableOutputSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        variable = self._variable()
        data = _valid(VariableUpdateInputSerializer, request, partial=True, instance=variable)
        data.setdefault("description", variable.description)
        return self._output(environment_services.variable_update(variable=variable, **data))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        environment_services.variable_delete(variable=self._variable())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=VariableValueInputSerializer, responses=VariableOutputSerializer)
    @action(detail=True, methods=["post"])
    def values(self, request: Request, pk: str | None = None) -> Response:
        """Set the variable's value in one environment."""
        variable = self._variable()
        data = _valid(VariableValueInputSerializer, request, workspace=self.workspace)
        environment_services.variable_set_value(variable=variable, **data)
        return self._output(variable)


class AuthConnectorViewSet(WorkspaceViewSet):
    """How API-call actions authenticate; credentials are per environment and write-only."""

    queryset = AuthConnector.objects.none()
    permission_classes = [IsAuthenticated, AdminWrites]

    def _connector(self) -> AuthConnector:
        connectors = environment_selectors.auth_connector_list(workspace=self.workspace)
        return get_object_or_404(connectors, pk=self.kwargs["pk"])

    def get_object(self) -> AuthConnector:
        return self._connector()

    def _output(self, connector: AuthConnector, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = environment_selectors.auth_connector_list(workspace=self.workspace).get(
            pk=connector.pk
        )
        return Response(AuthConnectorOutputSerializer(fresh).data, status=status_code)

    @extend_schema(responses=AuthConnectorOutputSerializer(many=True))
    def list(self, request: Request) -> Response:
        connectors = environment_selectors.auth_connector_list(workspace=self.workspace)
        return self._page(connectors, AuthConnectorOutputSerializer)

    @extend_schema(
        request=AuthConnectorInputSerializer, responses={201: AuthConnectorOutputSerializer}
    )
    def create(self, request: Request) -> Response:
        data = _valid(AuthConnectorInputSerializer, request)
        connector = environment_services.auth_connector_create(workspace=self.workspace, **data)
        return self._output(connector, status.HTTP_201_CREATED)

    @extend_schema(responses=AuthConnectorOutputSerializer)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(AuthConnectorOutputSerializer(self._connector()).data)

    @extend_schema(
        request=AuthConnectorUpdateInputSerializer, responses=AuthConnectorOutputSerializer
    )
    def update(self, request: Request, pk: str | None = None) -> Response:
        connector = self._connector()
        data = _valid(AuthConnectorUpdateInputSerializer, request, instance=connector)
        return self._output(
            environment_services.auth_connector_update(auth_connector=connector, **data)
        )

    @extend_schema(
        request=AuthConnectorUpdateInputSerializer, responses=AuthConnectorOutputSerializer
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        connector = self._connector()
        data = _valid(AuthConnectorUpdateInputSerializer, request, partial=True, instance=connector)
        return self._output(
            environment_services.auth_connector_update(auth_connector=connector, **data)
        )

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        environment_services.auth_connector_delete(auth_connector=self._connector())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=AuthCredentialsInputSerializer, responses=AuthConnectorOutputSerializer)
    @action(detail=True, methods=["post"])
    def credentials(self, request: Request, pk: str | None = None) -> Response:
        """Set the credentials for one environment (encrypted; never returned)."""
        connector = self._connector()
        data = _valid(AuthCredentialsInputSerializer, request, workspace=self.workspace)
        environment_services.auth_credentials_set(auth_connector=connector, **data)
        return self._output(connector)


# Members -------------------------------------------------------------------------------------


class MemberViewSet(WorkspaceViewSet):
    """Members of the workspace; admins and owners add (default role viewer), change, remove."""

    queryset = Membership.objects.none()
    permission_classes = [IsAuthenticated, AdminWrites]

    def _member(self) -> Membership:
        members = tenancy_selectors.membership_list(workspace=self.workspace)
        return get_object_or_404(members, pk=self.kwargs["pk"])

    def get_object(self) -> Membership:
        return self._member()

    @extend_schema(responses=MemberOutputSerializer(many=True))
    def list(self, request: Request) -> Response:
        return self._page(
            tenancy_selectors.membership_list(workspace=self.workspace), MemberOutputSerializer
        )

    @extend_schema(request=MemberCreateInputSerializer, responses={201: MemberOutputSerializer})
    def create(self, request: Request) -> Response:
        data = _valid(MemberCreateInputSerializer, request)
        member = workspace_services.membership_invite(actor_membership=self.membership, **data)
        return Response(MemberOutputSerializer(member).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=MemberOutputSerializer)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(MemberOutputSerializer(self._member()).data)

    @extend_schema(request=MemberUpdateInputSerializer, responses=MemberOutputSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(MemberUpdateInputSerializer, request)
        member = workspace_services.membership_change_role(
            membership=self._member(), role=data["role"], actor_membership=self.membership
        )
        return Response(MemberOutputSerializer(member).data)

    @extend_schema(request=MemberUpdateInputSerializer, responses=MemberOutputSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk=pk)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        workspace_services.membership_remove(
            membership=self._member(), actor_membership=self.membership
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
