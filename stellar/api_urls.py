"""REST API routes, gathered from each app's api module, and a JSON 404 for any other address
under /api/v1/ (an id that is not a number, a typo): API clients get the body the schema
declares, not Django's HTML page."""

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
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
from agents.testing.api import AgentTestCaseViewSet, AgentTestRunViewSet
from calls.analytics.api import AnalyticsView
from calls.api import CallViewSet
from connectors.api import PhoneConnectorViewSet
from handovers.api import HandoverActionViewSet

AGENT = r"agents/(?P<agent_id>\d+)"

router = DefaultRouter()
router.register("agents", AgentViewSet, basename="agent")
router.register(f"{AGENT}/versions", AgentVersionViewSet, basename="agent-version")
router.register(f"{AGENT}/actions", AgentActionViewSet, basename="agent-action")
router.register(f"{AGENT}/handover-actions", HandoverActionViewSet, basename="handover-action")
router.register(f"{AGENT}/tests", AgentTestCaseViewSet, basename="agent-test")
router.register(f"{AGENT}/test-runs", AgentTestRunViewSet, basename="agent-test-run")
router.register("environments", EnvironmentViewSet, basename="environment")
router.register("secrets", SecretViewSet, basename="secret")
router.register("variables", VariableViewSet, basename="variable")
router.register("auth-connectors", AuthConnectorViewSet, basename="auth-connector")
router.register("phone-connectors", PhoneConnectorViewSet, basename="phone-connector")
router.register("calls", CallViewSet, basename="call")
router.register("members", MemberViewSet, basename="member")


@csrf_exempt  # changes nothing; a POST here is told 404, not "CSRF cookie not set"
def api_not_found(request: HttpRequest, rest: str) -> JsonResponse:
    return JsonResponse({"detail": "There is no API endpoint at this address."}, status=404)


urlpatterns = [
    *router.urls,
    path("analytics/", AnalyticsView.as_view(), name="analytics"),
    re_path(r"^(?P<rest>[\s\S]*)$", api_not_found),
]
