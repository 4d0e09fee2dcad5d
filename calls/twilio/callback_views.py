"""Twilio callbacks about a call: the <Connect action> and the <Dial action>, both signed."""

import functools
import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from calls.models import Call
from calls.selectors import call_with_connector
from calls.twilio.connect_action import connect_action_twiml
from calls.twilio.handover import dial_status_twiml
from calls.twilio.signatures import request_is_from_twilio, request_params
from calls.twilio.webhook_views import xml_response

logger = logging.getLogger(__name__)


CallbackView = Callable[[Call, dict[str, str]], str]


def twilio_call_callback(view: CallbackView) -> Callable[[HttpRequest, int], HttpResponse]:
    """Load the call, check Twilio's signature with its connector's token, pass the params."""

    @csrf_exempt
    @require_http_methods(["GET", "POST"])
    @functools.wraps(view)
    def wrapper(request: HttpRequest, call_id: int) -> HttpResponse:
        call = call_with_connector(call_id=call_id)
        if call is None or call.connector is None:
            return HttpResponseNotFound("Unknown call.", content_type="text/plain")
        if not request_is_from_twilio(request, auth_token=call.connector.get_auth_token()):
            return HttpResponseForbidden("Invalid Twilio signature.", content_type="text/plain")
        params = request_params(request)
        if params.get("CallSid") and params["CallSid"] != call.call_sid:
            return HttpResponseForbidden("CallSid does not match.", content_type="text/plain")
        return xml_response(view(call, params))

    return wrapper


@twilio_call_callback
def connect_ended(call: Call, params: dict[str, str]) -> str:
    return connect_action_twiml(call=call, params=params)


@twilio_call_callback
def dial_status(call: Call, params: dict[str, str]) -> str:
    return dial_status_twiml(call_id=call.pk, params=params)
