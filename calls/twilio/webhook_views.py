"""Twilio's voice webhook: GET or POST, signed, answered with TwiML in milliseconds."""

import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from calls.selectors import call_for_connector
from calls.services import CallSidTaken, call_apply_status_callback
from calls.twilio.inbound import call_sid_is_valid, inbound_call_answer
from calls.twilio.signatures import request_is_from_twilio, request_params
from connectors.selectors import connector_by_identifier
from stellar.kernel.metrics import WEBHOOK_LATENCY

logger = logging.getLogger(__name__)


def xml_response(twiml: str) -> HttpResponse:
    return HttpResponse(twiml, content_type="text/xml")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def twilio_voice_webhook(request: HttpRequest, identifier: str) -> HttpResponse:
    connector = connector_by_identifier(identifier)
    if connector is None:
        logger.info("voice webhook for unknown connector identifier")
        return HttpResponseNotFound("Unknown connector.", content_type="text/plain")
    if not request_is_from_twilio(request, auth_token=connector.get_auth_token()):
        return HttpResponseForbidden("Invalid Twilio signature.", content_type="text/plain")
    params = request_params(request)
    if params.get("AccountSid") != connector.twilio_account_sid:
        logger.warning("voice webhook AccountSid mismatch for connector %s", connector.pk)
        return HttpResponseForbidden("Wrong Twilio account.", content_type="text/plain")
    if not call_sid_is_valid(params.get("CallSid", "")):
        return HttpResponse("Missing or malformed CallSid.", status=400, content_type="text/plain")
    try:
        twiml, _call = inbound_call_answer(connector=connector, params=params)
    except CallSidTaken:
        logger.warning("voice webhook: CallSid of another connector on connector %s", connector.pk)
        return HttpResponse(
            "Unknown CallSid for this number.", status=400, content_type="text/plain"
        )
    return xml_response(twiml)


twilio_voice_webhook = WEBHOOK_LATENCY.time()(twilio_voice_webhook)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def twilio_call_status(request: HttpRequest, identifier: str) -> HttpResponse:
    """Twilio's status callback: the call's final status and duration."""
    connector = connector_by_identifier(identifier)
    if connector is None:
        return HttpResponseNotFound("Unknown connector.", content_type="text/plain")
    if not request_is_from_twilio(request, auth_token=connector.get_auth_token()):
        return HttpResponseForbidden("Invalid Twilio signature.", content_type="text/plain")
    params = request_params(request)
    if not call_sid_is_valid(params.get("CallSid", "")):
        return HttpResponse("Missing or malformed CallSid.", status=400, content_type="text/plain")
    with transaction.atomic():  # the event and the final status: one commit
        call = call_for_connector(connector=connector, call_sid=params["CallSid"])
        if call is None:
            return HttpResponseNotFound("Unknown call.", content_type="text/plain")
        call_apply_status_callback(call=call, params=params)
    return HttpResponse(status=204)
