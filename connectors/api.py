"""REST API of phone connectors: /phone-connectors/."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from agents.api import WorkspaceViewSet
from connectors import services
from connectors.models import PhoneConnector
from connectors.selectors import connector_list
from connectors.serializers import (
    PhoneConnectorInputSerializer,
    PhoneConnectorOutputSerializer,
    PhoneConnectorUpdateInputSerializer,
)


class PhoneConnectorViewSet(WorkspaceViewSet):
    """A Twilio number pointed at an agent; `answering` says which version takes calls now."""

    queryset = PhoneConnector.objects.none()

    def _connector(self) -> PhoneConnector:
        connectors = connector_list(workspace=self.workspace)
        return get_object_or_404(connectors, pk=self.kwargs["pk"])

    def _valid(self, serializer_class, *, partial: bool = False) -> dict:
        serializer = serializer_class(
            data=self.request.data, partial=partial, context={"workspace": self.workspace}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(responses=PhoneConnectorOutputSerializer(many=True))
    def list(self, request):
        connectors = connector_list(workspace=self.workspace)
        return self._page(connectors, PhoneConnectorOutputSerializer)

    @extend_schema(
        request=PhoneConnectorInputSerializer, responses={201: PhoneConnectorOutputSerializer}
    )
    def create(self, request):
        data = self._valid(PhoneConnectorInputSerializer)
        connector = services.connector_create(workspace=self.workspace, **data)
        return Response(
            PhoneConnectorOutputSerializer(connector).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(responses=PhoneConnectorOutputSerializer)
    def retrieve(self, request, pk=None):
        return Response(PhoneConnectorOutputSerializer(self._connector()).data)

    @extend_schema(
        request=PhoneConnectorUpdateInputSerializer, responses=PhoneConnectorOutputSerializer
    )
    def update(self, request, pk=None):
        return self._update(partial=False)

    @extend_schema(
        request=PhoneConnectorUpdateInputSerializer, responses=PhoneConnectorOutputSerializer
    )
    def partial_update(self, request, pk=None):
        return self._update(partial=True)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.connector_delete(connector=self._connector())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, *, partial: bool) -> Response:
        connector = self._connector()
        changes = self._valid(PhoneConnectorUpdateInputSerializer, partial=partial)
        token = changes.pop("twilio_auth_token", None)
        connector = services.connector_update(
            connector=connector, twilio_auth_token=token, **changes
        )
        return Response(PhoneConnectorOutputSerializer(connector).data)
