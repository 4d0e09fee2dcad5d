"""REST API of handover actions: /agents/{agent_id}/handover-actions/ (the same operations as
the agent's other actions, through handovers.services)."""

from typing import Any

from agents.api import AgentActionsViewSet, agent_actions_schema
from agents.definitions.models import Agent
from handovers import services
from handovers.models import HandoverAction
from handovers.serializers import HandoverActionInputSerializer, HandoverActionOutputSerializer


@agent_actions_schema(HandoverActionInputSerializer, HandoverActionOutputSerializer)
class HandoverActionViewSet(AgentActionsViewSet[HandoverAction]):
    """Hand the caller to a human (E.164 number) or back to a Twilio Studio flow."""

    queryset = HandoverAction.objects.none()
    related_name = "handover_actions"
    input_serializer = HandoverActionInputSerializer
    output_serializer = HandoverActionOutputSerializer

    def action_create(self, agent: Agent, data: dict[str, Any]) -> HandoverAction:
        return services.handover_action_create(agent=agent, **data)

    def action_update(self, action: HandoverAction, data: dict[str, Any]) -> HandoverAction:
        return services.handover_action_update(action=action, **data)

    def action_delete(self, action: HandoverAction) -> None:
        services.handover_action_delete(action=action)
