"""REST API of handover actions: /agents/{agent_id}/handover-actions/."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from agents.api import AGENT_ID_PARAMETER, AgentScopedViewSet
from handovers import services
from handovers.models import HandoverAction
from handovers.serializers import HandoverActionInputSerializer, HandoverActionOutputSerializer


def _valid(request, *, partial: bool = False) -> dict:
    serializer = HandoverActionInputSerializer(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema_view(
    list=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    create=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    retrieve=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    update=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    partial_update=extend_schema(parameters=[AGENT_ID_PARAMETER]),
    destroy=extend_schema(parameters=[AGENT_ID_PARAMETER]),
)
class HandoverActionViewSet(AgentScopedViewSet):
    """Hand the caller to a human (E.164 number) or back to a Twilio Studio flow."""

    queryset = HandoverAction.objects.none()

    def _handover(self) -> HandoverAction:
        return get_object_or_404(self._parent().handover_actions.all(), pk=self.kwargs["pk"])

    @extend_schema(responses=HandoverActionOutputSerializer(many=True))
    def list(self, request, agent_id=None):
        return self._page(self._parent().handover_actions.all(), HandoverActionOutputSerializer)

    @extend_schema(
        request=HandoverActionInputSerializer, responses={201: HandoverActionOutputSerializer}
    )
    def create(self, request, agent_id=None):
        created = services.handover_action_create(agent=self._parent(), **_valid(request))
        return Response(
            HandoverActionOutputSerializer(created).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(responses=HandoverActionOutputSerializer)
    def retrieve(self, request, agent_id=None, pk=None):
        return Response(HandoverActionOutputSerializer(self._handover()).data)

    @extend_schema(request=HandoverActionInputSerializer, responses=HandoverActionOutputSerializer)
    def update(self, request, agent_id=None, pk=None):
        updated = services.handover_action_update(action=self._handover(), **_valid(request))
        return Response(HandoverActionOutputSerializer(updated).data)

    @extend_schema(request=HandoverActionInputSerializer, responses=HandoverActionOutputSerializer)
    def partial_update(self, request, agent_id=None, pk=None):
        changes = _valid(request, partial=True)
        updated = services.handover_action_update(action=self._handover(), **changes)
        return Response(HandoverActionOutputSerializer(updated).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, agent_id=None, pk=None):
        services.handover_action_delete(action=self._handover())
        return Response(status=status.HTTP_204_NO_CONTENT)
