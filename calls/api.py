"""REST API of calls (read-only): /calls/ with filters, /calls/{id}/ with its timeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from agents.api import WorkspaceViewSet
from calls.models import Call, Recording
from calls.recordings.download import recording_response
from calls.selectors import call_detail, call_list
from calls.serializers import (
    CallDetailOutputSerializer,
    CallFilterSerializer,
    CallOutputSerializer,
    ResendOutputSerializer,
)
from calls.tasks import resend_call_ended


class WavRenderer(BaseRenderer):
    """Lets a player ask for `Accept: audio/wav`; the body is streamed by the view itself."""

    media_type = "audio/wav"
    format = "wav"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> Any:
        return data


class CallViewSet(WorkspaceViewSet):
    """Calls of the workspace, newest first."""

    queryset = Call.objects.none()

    def handle_exception(self, exc: Exception) -> Response:
        """Errors are JSON even when the recording was asked for as audio/wav."""
        if isinstance(getattr(self.request, "accepted_renderer", None), WavRenderer):
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    @extend_schema(parameters=[CallFilterSerializer], responses=CallOutputSerializer(many=True))
    def list(self, request: Request) -> Response:
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

    def get_object(self) -> Call:
        call = call_detail(workspace=self.workspace, call_id=int(self.kwargs["pk"]))  # \d+
        if call is None:
            raise Http404("No such call.")
        return call

    @extend_schema(responses=CallDetailOutputSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(CallDetailOutputSerializer(self.get_object()).data)

    @extend_schema(
        responses={
            (200, "audio/wav"): OpenApiResponse(OpenApiTypes.BINARY, description="Stereo WAV"),
            (206, "audio/wav"): OpenApiResponse(OpenApiTypes.BINARY, description="Byte range"),
        }
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, WavRenderer])
    def recording(self, request: Request, pk: str) -> HttpResponseBase:
        """The recording (caller left, agent right); supports one HTTP Range for players."""
        recording = (
            Recording.objects.select_related("call")
            .filter(call_id=pk, call__workspace=self.workspace)
            .first()
        )
        if recording is None:
            raise Http404("This call has no recording.")
        # Django's request: DRF's wrapper is no ASGIRequest, and the file would be read whole.
        return recording_response(request._request, recording)

    @extend_schema(request=None, responses={202: ResendOutputSerializer})
    @action(detail=True, methods=["post"], url_path="resend-webhook")
    def resend_webhook(self, request: Request, pk: str) -> Response:
        """Send the call's `call.ended` to its environment's webhook again (same delivery id,
        so receivers can de-duplicate); the attempt is listed in webhook_deliveries."""
        call = self.get_object()
        try:
            resend_call_ended(call=call)
        except DjangoValidationError as exc:
            raise ValidationError({"detail": exc.messages}) from exc
        return Response({"queued": True}, status=202)
