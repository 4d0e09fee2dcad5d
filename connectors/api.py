"""REST API of phone connectors: /phone-connectors/."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents.api import WorkspaceViewSet
from connectors import services
from connectors.models import PhoneConnector
from connectors.selectors import connector_list
from connectors.serializers import (
    PhoneConnectorInputSerializer,
    PhoneConnectorOutputSerializer,
    PhoneConnectorUpdateInputSerializer,
    RolloutInputSerializer,
    RolloutOutputSerializer,
)


class PhoneConnectorViewSet(WorkspaceViewSet):
    """A Twilio number pointed at an agent; `answering` says which version takes calls now."""

    queryset = PhoneConnector.objects.none()

    def _connector(self) -> PhoneConnector:
        connectors = connector_list(workspace=self.workspace)
        return get_object_or_404(connectors, pk=self.kwargs["pk"])

    def get_object(self) -> PhoneConnector:
        return self._connector()

    def _valid(
        self, serializer_class: type[serializers.Serializer[None]], *, partial: bool = False
    ) -> dict[str, Any]:
        serializer = serializer_class(
            data=self.request.data, partial=partial, context={"workspace": self.workspace}
        )
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        return data

    @extend_schema(responses=PhoneConnectorOutputSerializer(many=True))
    def list(self, request: Request) -> Response:
        connectors = connector_list(workspace=self.workspace)
        return self._page(connectors, PhoneConnectorOutputSerializer)

    @extend_schema(
        request=PhoneConnectorInputSerializer, responses={201: PhoneConnectorOutputSerializer}
    )
    def create(self, request: Request) -> Response:
        data = self._valid(PhoneConnectorInputSerializer)
        role = self.membership.role
        connector = services.connector_create(workspace=self.workspace, actor_role=role, **data)
        return Response(
            PhoneConnectorOutputSerializer(connector).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(responses=PhoneConnectorOutputSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(PhoneConnectorOutputSerializer(self._connector()).data)

    @extend_schema(
        request=PhoneConnectorUpdateInputSerializer, responses=PhoneConnectorOutputSerializer
    )
    def update(self, request: Request, pk: str) -> Response:
        return self._update(partial=False)

    @extend_schema(
        request=PhoneConnectorUpdateInputSerializer, responses=PhoneConnectorOutputSerializer
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(partial=True)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.connector_delete(connector=self._connector())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, *, partial: bool) -> Response:
        connector = self._connector()
        changes = self._valid(PhoneConnectorUpdateInputSerializer, partial=partial)
        token = changes.pop("twilio_auth_token", None)
        connector = services.connector_update(
            connector=connector,
            twilio_auth_token=token,
            actor_role=self.membership.role,
            **changes,
        )
        return Response(PhoneConnectorOutputSerializer(connector).data)

    @extend_schema(responses=RolloutOutputSerializer)
    @action(detail=True, methods=["get"])
    def rollout(self, request: Request, pk: str | None = None) -> Response:
        """The share sent to the agent, the version split and the audit of their changes."""
        return Response(RolloutOutputSerializer(self._connector()).data)

    @extend_schema(request=RolloutInputSerializer, responses=RolloutOutputSerializer)
    @rollout.mapping.put
    def rollout_update(self, request: Request, pk: str | None = None) -> Response:
        connector = self._connector()
        data = self._valid(RolloutInputSerializer)
        return self._rollout_set(connector, data)

    @extend_schema(request=RolloutInputSerializer, responses=RolloutOutputSerializer)
    @rollout.mapping.patch
    def rollout_partial_update(self, request: Request, pk: str | None = None) -> Response:
        connector = self._connector()
        data = {
            "rollout_percent": connector.rollout_percent,
            "existing_line": connector.existing_line,
            "candidate_version": connector.candidate_version,
            "candidate_percent": connector.candidate_percent,
            **self._valid(RolloutInputSerializer, partial=True),
        }
        return self._rollout_set(connector, data)

    def _rollout_set(self, connector: PhoneConnector, data: dict[str, Any]) -> Response:
        user = self.request.user  # authenticated (IsAuthenticated), never anonymous here
        connector = services.connector_rollout_set(
            connector=connector, changed_by=user if isinstance(user, User) else None, **data
        )
        return Response(RolloutOutputSerializer(connector).data)
