"""REST API of calls (read-only): /calls/ with filters, /calls/{id}/ with its timeline."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from agents.api import WorkspaceViewSet

from .models import Call
from .selectors import call_detail, call_list
from .serializers import CallDetailOutputSerializer, CallFilterSerializer, CallOutputSerializer


class CallViewSet(WorkspaceViewSet):
    """Calls of the workspace, newest first."""

    queryset = Call.objects.none()

    @extend_schema(parameters=[CallFilterSerializer], responses=CallOutputSerializer(many=True))
    def list(self, request):
        filters = CallFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        calls = call_list(
            workspace=self.workspace,
            filters={
                "status": data.get("status"),
                "connector_id": data.get("connector"),
                "agent_id": data.get("agent"),
            },
        )
        return self._page(calls, CallOutputSerializer)

    @extend_schema(responses=CallDetailOutputSerializer)
    def retrieve(self, request, pk=None):
        call = call_detail(workspace=self.workspace, call_id=pk)
        if call is None:
            raise Http404("No such call.")
        return Response(CallDetailOutputSerializer(call).data)
