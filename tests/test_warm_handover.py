"""Warm handover (#19): the person who answers hears who is calling and why, only they hear it,
then the caller is connected; the call page shows what was whispered."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import pytest
from django.test import Client, override_settings

from agents.definitions.versions import agent_publish
from calls.models import Call, CallEvent, CallStatus, TranscriptSegment
from calls.simulator import Say, WaitForAgent, format_transcript
from calls.twilio.handover import handover_request
from calls.twilio.whisper import PREPARED, WHISPERED, whisper_text
from handovers.models import HandoverAction
from handovers.services import handover_action_create, handover_action_update
from stellar.kernel.metrics import HANDOVER_WHISPERS
from tests.e2e import place_call, words
from tests.factories import api_client
from tests.test_voice_webhook import PUBLIC, signed_post
from tests.twilio_call import build_line, voice_params

CALLER = "+31612345678"
# The handover line, and room for the holding line before it when the answer is late on a busy
# machine (docs/capacity.md); the stream closes after the handover line either way.
LATE_ANSWER = [WaitForAgent(), WaitForAgent()]
SALES = "+31201234567"


def warm_line(**agent_fields):
    """The test line with whisper on for transfer_to_sales (support stays a cold transfer)."""
    line = build_line(publish=False, **agent_fields)
    sales = HandoverAction.objects.get(agent=line.agent, name="transfer_to_sales")
    handover_action_update(action=sales, whisper=True)
    agent_publish(agent=line.agent, user=line.owner)
    return line


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


# -- end to end: the simulator over real Daphne ---------------------------------------------


@pytest.mark.e2e
def test_human_hears_who_and_why_then_the_caller_is_connected(live_daphne):
    line = warm_line()
    result = place_call(
        live_daphne,
        line,
        [
            WaitForAgent(),
            Say("Hi, I would like to buy something. Can I talk to sales?"),
            *LATE_ANSWER,
        ],
        from_=CALLER,
    )
    assert result.ok and len(result.dials) == 1, format_transcript(result)
    (dial,) = result.dials
    assert dial.number == SALES and dial.status == "completed"
    whisper = dial.whisper
    assert whisper is not None and whisper.error is None, format_transcript(result)
    # Who: the caller's number, digit by digit; why: their words that led to the handover.
    assert digits(whisper.text) == digits(CALLER), whisper.text
    assert "plus 3 1" in whisper.text
    assert "sales" in words(whisper.text) and "buy" in words(whisper.text), whisper.text
    assert len(whisper.text.replace(",", "").split()) <= 25 + len(digits(CALLER))
    # Only the human heard it, and the caller was connected after it ended.
    assert not any("sales" in words(t) for t in result.twilio_said)
    assert whisper.ended_at is not None and dial.bridged_at is not None
    assert whisper.at <= whisper.ended_at <= dial.bridged_at
    (document,) = [d for d in result.documents if d.kind == "whisper"]
    assert [(v.text, v.language) for v in document.verbs] == [(whisper.text, "en-US")]
    exchange = next(e for e in result.exchanges if e.kind == "whisper")
    assert exchange.status == 200 and exchange.params["ParentCallSid"] == result.call_sid

    call = Call.objects.get(call_sid=result.call_sid)
    assert call.status == CallStatus.TRANSFERRED and call.transferred_to == SALES
    whispered = CallEvent.objects.get(call=call, kind=WHISPERED)
    assert whispered.data["text"] == whisper.text
    assert whispered.data["dial_call_sid"] == dial.dial_call_sid

    # The call page shows what was whispered, to whom.
    studio = Client()
    studio.force_login(line.owner)
    page = studio.get(f"/conversations/{call.pk}/")
    assert page.status_code == 200
    body = html.unescape(page.content.decode())
    assert f"Whispered to {SALES}: {whisper.text}" in body


# -- the whisper URL, in-process -------------------------------------------------------------


@pytest.fixture
def public_url():
    with override_settings(STELLAR_PUBLIC_URL=PUBLIC, ALLOWED_HOSTS=["*"]):
        yield


def dialled_call(client, line, action_name="transfer_to_sales"):
    """A call whose Connect action has just answered with the handover's <Dial>."""
    params = voice_params(From=CALLER)
    signed_post(client, line, line.connector.webhook_path, params)
    call = Call.objects.get(call_sid=params["CallSid"])
    for start, text in ((900, "Can I talk to sales?"), (4000, "Okay, thank you.")):
        TranscriptSegment.objects.create(
            call=call, speaker="caller", start_ms=start, end_ms=start + 900, text=text
        )
    action = next(
        a
        for a in line.agent.versions.first().snapshot["handover_actions"]
        if a["name"] == action_name
    )
    handover_request(call_id=call.pk, action=action, reason="Caller said: Can I talk to sales?")
    response = signed_post(client, line, f"/v1/calls/{call.pk}/connect-ended", params)
    assert response.status_code == 200
    return call, params, ET.fromstring(response.content).find("Dial")


def child_leg(params):
    return {
        **params,
        "CallSid": "CA" + "c" * 32,
        "ParentCallSid": params["CallSid"],
        "To": SALES,
        "Direction": "outbound-dial",
        "CallStatus": "in-progress",
    }


@pytest.mark.django_db
def test_whisper_url_is_signed_and_serves_the_stored_summary(client, public_url):
    line = warm_line()
    call, params, dial = dialled_call(client, line)
    number = dial.find("Number")
    assert number.text == SALES and number.get("method") == "POST"
    path = number.get("url").removeprefix(PUBLIC)
    prepared = CallEvent.objects.get(call=call, kind=PREPARED)
    assert path == f"/v1/calls/{call.pk}/whispers/{prepared.pk}"
    text = prepared.data["text"]
    assert digits(text) == digits(CALLER) and "Can I talk to sales?" in text
    assert "thank you" not in text  # said during the handover line, not why they called

    leg = child_leg(params)
    assert client.post(path, leg).status_code == 403  # unsigned
    forged = Client().post(path, leg, HTTP_X_TWILIO_SIGNATURE="bm90IGEgc2lnbmF0dXJl")
    assert forged.status_code == 403
    other_parent = {**leg, "ParentCallSid": "CA" + "d" * 32}
    assert signed_post(client, line, path, other_parent).status_code == 403
    assert (
        signed_post(client, line, path.replace("whispers/", "whispers/9"), leg).status_code == 404
    )
    assert not CallEvent.objects.filter(call=call, kind=WHISPERED).exists()

    served = HANDOVER_WHISPERS.labels("served")._value.get()
    response = signed_post(client, line, path, leg)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert HANDOVER_WHISPERS.labels("served")._value.get() == served + 1
    root = ET.fromstring(response.content)
    assert [el.tag for el in root] == ["Say"] and root.find("Say").text == text
    whispered = CallEvent.objects.get(call=call, kind=WHISPERED)
    assert whispered.message == f"Whispered to {SALES}: {text}"


@pytest.mark.django_db
def test_a_whisper_is_only_served_for_its_own_call(client, public_url):
    ours, theirs = warm_line(), warm_line()
    call, _params, _dial = dialled_call(client, ours)
    their_call, their_params, _ = dialled_call(client, theirs)
    # A request signed for their own call cannot fetch our call's whisper by its id.
    prepared = CallEvent.objects.get(call=call, kind=PREPARED)
    foreign = f"/v1/calls/{their_call.pk}/whispers/{prepared.pk}"
    assert signed_post(client, theirs, foreign, child_leg(their_params)).status_code == 404
    assert not CallEvent.objects.filter(kind=WHISPERED).exists()


@pytest.mark.django_db
def test_handover_without_whisper_dials_a_plain_number(client, public_url):
    line = warm_line()
    call, _params, dial = dialled_call(client, line, "transfer_to_support")
    number = dial.find("Number")
    assert number.text == "+31207654321" and number.get("url") is None
    assert not CallEvent.objects.filter(call=call, kind=PREPARED).exists()


@pytest.mark.django_db
def test_summary_without_caller_words_or_number(public_url):
    line = warm_line()
    call = Call.objects.create(
        workspace=line.agent.workspace, call_sid="CA" + "f" * 32, from_number="anonymous"
    )
    assert whisper_text(call=call) == "Call from a withheld number."
    handover_request(call_id=call.pk, action={"name": "x"}, reason="Taken over by ann")
    assert whisper_text(call=call, language="nl-NL") == (
        "Beller met afgeschermd nummer. Zei: Taken over by ann"
    )


@pytest.mark.django_db
def test_whisper_is_off_by_default_and_set_through_the_service():
    line = build_line(publish=False)
    action = handover_action_create(
        agent=line.agent, name="to_desk", description="Desk.", destination=SALES, whisper=True
    )
    assert action.whisper is True
    assert HandoverAction.objects.get(agent=line.agent, name="transfer_to_sales").whisper is False


@pytest.mark.django_db
def test_whisper_checkbox_in_studio_and_field_in_the_api():
    line = build_line(publish=False)
    agent = line.agent
    studio = Client()
    studio.force_login(line.owner)
    form = studio.get(f"/agents/{agent.pk}/handovers/new/phone/").content.decode()
    assert 'type="checkbox" name="whisper"' in form
    assert (
        'name="whisper"'
        not in studio.get(f"/agents/{agent.pk}/handovers/new/studio_flow/").content.decode()
    )
    fields = {
        "name": "to_desk",
        "description": "The caller wants the front desk.",
        "destination": "+31201234568",
        "ring_timeout": "20",
        "fallback": "hangup",
        "whisper": "on",
    }
    response = studio.post(f"/agents/{agent.pk}/handovers/new/phone/", fields)
    assert response.status_code == 302, response.content.decode()[:2000]
    desk = HandoverAction.objects.get(agent=agent, name="to_desk")
    assert desk.whisper is True
    edit = studio.get(f"/agents/{agent.pk}/handovers/{desk.pk}/").content.decode()
    assert re.search(r'<input type="checkbox" name="whisper"[^>]* checked', edit)

    api = api_client(line.owner, workspace=agent.workspace)
    base = f"/api/v1/agents/{agent.pk}/handover-actions/"
    listed = {a["name"]: a["whisper"] for a in api.get(base).json()["results"]}
    assert listed == {"to_desk": True, "transfer_to_sales": False, "transfer_to_support": False}
    response = api.patch(f"{base}{desk.pk}/", {"whisper": False}, format="json")
    assert response.status_code == 200 and response.json()["whisper"] is False
    response = api.patch(f"{base}{desk.pk}/", {"whisper": "loud"}, format="json")
    assert response.status_code == 400 and "whisper" in response.json()
