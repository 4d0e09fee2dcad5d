"""Twilio callbacks about a call: the <Connect action> after the media stream ends."""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from connectors.signatures import request_is_from_twilio, request_params
from connectors.views import xml_response

from .connect_action import connect_action_twiml
from .selectors import call_with_connector

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def connect_ended(request: HttpRequest, call_id: int) -> HttpResponse:
    call = call_with_connector(call_id=call_id)
    if call is None or call.connector is None:
        return HttpResponseNotFound("Unknown call.", content_type="text/plain")
    if not request_is_from_twilio(request, auth_token=call.connector.get_auth_token()):
        return HttpResponseForbidden("Invalid Twilio signature.", content_type="text/plain")
    params = request_params(request)
    if params.get("CallSid") and params["CallSid"] != call.call_sid:
        return HttpResponseForbidden("CallSid does not match.", content_type="text/plain")
    return xml_response(connect_action_twiml(call=call, params=params))
