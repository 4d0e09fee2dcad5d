"""Twilio callbacks about a call, all signed: the <Connect action>, the <Dial action> and the
handover whisper."""

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
from calls.twilio.whisper import whisper_twiml

logger = logging.getLogger(__name__)


CallbackView = Callable[..., str | None]  # (call, params, **url kwargs) → TwiML, None: unknown


def twilio_call_callback(
    view: CallbackView, *, sid_param: str = "CallSid"
) -> Callable[..., HttpResponse]:
    """Load the call, check Twilio's signature with its connector's token, pass the params.
    `sid_param` names our call in the request: the whisper's request is about the dialled
    person's leg (its own CallSid), whose ParentCallSid is our call."""

    @csrf_exempt
    @require_http_methods(["GET", "POST"])
    @functools.wraps(view)
    def wrapper(request: HttpRequest, call_id: int, **kwargs: int) -> HttpResponse:
        call = call_with_connector(call_id=call_id)
        if call is None or call.connector is None:
            return HttpResponseNotFound("Unknown call.", content_type="text/plain")
        if not request_is_from_twilio(request, auth_token=call.connector.get_auth_token()):
            return HttpResponseForbidden("Invalid Twilio signature.", content_type="text/plain")
        params = request_params(request)
        if params.get(sid_param) and params[sid_param] != call.call_sid:
            logger.warning("%s: %s does not match call %s", view.__name__, sid_param, call.pk)
            return HttpResponseForbidden(f"{sid_param} does not match.", content_type="text/plain")
        twiml = view(call, params, **kwargs)
        if twiml is None:
            return HttpResponseNotFound("Unknown.", content_type="text/plain")
        return xml_response(twiml)

    return wrapper


@twilio_call_callback
def connect_ended(call: Call, params: dict[str, str]) -> str:
    return connect_action_twiml(call=call, params=params)


@twilio_call_callback
def dial_status(call: Call, params: dict[str, str]) -> str:
    return dial_status_twiml(call_id=call.pk, params=params)


def _whisper(call: Call, params: dict[str, str], whisper_id: int) -> str | None:
    return whisper_twiml(call=call, event_id=whisper_id, params=params)


# The warm-handover whisper URL (`<Dial><Number url>`): Twilio requests it for the dialled
# person's leg once they answer; the stored summary is said to them only.
handover_whisper = twilio_call_callback(_whisper, sid_param="ParentCallSid")
