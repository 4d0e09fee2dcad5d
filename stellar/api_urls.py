"""REST API routes, gathered from each app's api module."""

from rest_framework.routers import DefaultRouter

from agents.api import (
    AgentActionViewSet,
    AgentVersionViewSet,
    AgentViewSet,
    AuthConnectorViewSet,
    EnvironmentViewSet,
    MemberViewSet,
    SecretViewSet,
    VariableViewSet,
)
from calls.api import CallViewSet
from connectors.api import PhoneConnectorViewSet
from handovers.api import HandoverActionViewSet

AGENT = r"agents/(?P<agent_id>\d+)"

router = DefaultRouter()
router.register("agents", AgentViewSet, basename="agent")
router.register(f"{AGENT}/versions", AgentVersionViewSet, basename="agent-version")
router.register(f"{AGENT}/actions", AgentActionViewSet, basename="agent-action")
router.register(f"{AGENT}/handover-actions", HandoverActionViewSet, basename="handover-action")
router.register("environments", EnvironmentViewSet, basename="environment")
router.register("secrets", SecretViewSet, basename="secret")
router.register("variables", VariableViewSet, basename="variable")
router.register("auth-connectors", AuthConnectorViewSet, basename="auth-connector")
router.register("phone-connectors", PhoneConnectorViewSet, basename="phone-connector")
router.register("calls", CallViewSet, basename="call")
router.register("members", MemberViewSet, basename="member")
urlpatterns = router.urls
