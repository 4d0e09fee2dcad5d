# ruff: noqa: F811  (fixtures imported from tests.live_fixtures are redefined as arguments)
"""Listen & intervene end to end, across two Daphne processes sharing PostgreSQL and Redis.

A simulated Twilio call runs on server A (`live_daphne`); supervisors connect to server B
(`studio_daphne`): a Playwright browser on the Listen page, or a plain websocket client with
a session cookie. The call and its listeners only meet through the Redis channel layer.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import xml.etree.ElementTree as ET

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agents.config.services import workspace_create
from agents.models import AgentVersion, Membership, Role
from calls.models import Call, CallEvent, CallStatus
from calls.simulator import HangUp, Say, Wait, WaitForAgent
from tests.conftest import LiveServer
from tests.e2e import eventually, place_call, words
from tests.live_fixtures import (  # noqa: F401  (fixtures)
    Refused,
    _studio_server,
    browser_cookie,
    live_page,
    session_cookie,
    studio_daphne,
    twilio_rest_proxy,
    ws_open,
    ws_receive_until,
)
from tests.twilio_call import ACCOUNT_SID, Line, build_line, new_call_sid

pytestmark = pytest.mark.e2e

SUPERVISOR_NUMBER = "+31612345678"


def member(line: Line, username: str, role: str):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, f"{username}@example.com")
    Membership.objects.create(workspace=line.agent.workspace, user=user, role=role)
    return user


def outsider():
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("oscar-outsider", "oscar@example.com")
    workspace_create(name="Other company", owner=user)
    return user


def call_without_stream(line: Line) -> Call:
    """A live call whose process is gone: nobody in its control group will answer."""
    version = AgentVersion.objects.filter(agent=line.agent).order_by("-number").first()
    return Call.objects.create(
        workspace=line.agent.workspace,
        connector=line.connector,
        agent=line.agent,
        agent_version=version,
        version_label=version.label,
        environment=line.connector.environment,
        agent_snapshot=version.snapshot,
        call_sid=new_call_sid(),
        account_sid=ACCOUNT_SID,
        from_number="+15551230001",
        to_number="+15557650002",
        status=CallStatus.IN_PROGRESS,
        answered_at=timezone.now(),
        stream_sid="MZ" + "0" * 32,
    )


class CallInThread:
    """place_call on server A in a thread, so the test can act while the call goes on."""

    def __init__(self, server: LiveServer, line: Line, script: list, **options):
        self.call_sid = new_call_sid()
        self.result = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = place_call(server, line, script, call_sid=self.call_sid, **options)
            except BaseException as exc:  # reported by join()
                self.error = exc

        self.thread = threading.Thread(target=run, name="simulated-call", daemon=True)
        self.thread.start()

    def call(self, timeout: float = 20.0) -> Call:
        """The call row once its media stream started on server A."""
        call = eventually(
            lambda: Call.objects.filter(
                call_sid=self.call_sid, status=CallStatus.IN_PROGRESS
            ).first(),
            timeout=timeout,
        )
        assert call is not None, "the simulated call never started streaming"
        return call

    def join(self, timeout: float = 90.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the simulated call did not finish"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.mark.browser
def test_supervisor_listens_live_stops_and_takes_over(live_daphne, studio_daphne, live_page):
    page = live_page
    # given a call in progress on server A and an editor of its workspace on server B
    line = build_line()
    supervisor = member(line, "sam-supervisor", Role.EDITOR)
    running = CallInThread(
        live_daphne,
        line,
        [
            WaitForAgent(),
            Say("What are your opening hours?"),
            WaitForAgent(),
            Wait(45),
            HangUp(),
        ],
        realtime=1.0,
    )
    call = running.call()
    page.context.add_cookies([browser_cookie(studio_daphne, supervisor)])

    # when the supervisor opens Listen on server B
    page.goto(f"{studio_daphne.url}/conversations/{call.pk}/listen/")

    # then transcript lines appear as they are spoken, and both tracks stream in
    transcript = page.locator("#live-transcript")
    expect(transcript).to_contain_text("opening hours", timeout=30_000)
    expect(transcript).to_contain_text("Monday", timeout=30_000)
    page.wait_for_function(
        "window.liveStats.audioMessages.caller > 10 && window.liveStats.audioMessages.agent > 3"
    )
    stats = page.evaluate("window.liveStats")
    assert stats["liveTranscripts"] >= 2, stats  # pushed live, not only the arrival snapshot
    assert stats["audioFrames"] >= 5 * (stats["audioMessages"]["caller"] - 1)
    # and the page tells the supervisor how far behind the call they hear it
    expect(page.locator("#listen-delay")).to_have_text(re.compile(r"^Delay: \d+ ms$"))
    assert 0 <= page.evaluate("window.liveStats.delayMs") < 60_000

    # when they stop listening, the stream stops
    page.get_by_role("button", name="Stop listening").click()
    page.wait_for_function("window.liveStats.closeCode !== null && !window.liveStats.connected")
    frozen = page.evaluate("window.liveStats.audioMessages")
    time.sleep(1.5)
    assert page.evaluate("window.liveStats.audioMessages") == frozen
    expect(page.get_by_role("status").filter(has_text="Not listening")).to_be_visible()

    # when they listen again and take over to their own number
    page.get_by_role("button", name="Start listening").click()
    page.wait_for_function("window.liveStats.snapshots === 2 && window.liveStats.connected")
    page.get_by_label("My own number").check()
    page.get_by_label("My number", exact=True).fill(SUPERVISOR_NUMBER)
    page.get_by_role("button", name="Take over now").click()

    # then the call's own process hands over: a short line, then <Dial> to that number
    expect(page.locator("#take-over-result")).to_contain_text("Transferring the caller")
    assert page.evaluate("window.liveStats.takeOver.path") == "live"
    result = running.join()
    assert [d.number for d in result.dials] == [SUPERVISOR_NUMBER], result.errors
    # (Whisper tiny hears "colleague" as "calling" now and then: check the rest of the line.)
    assert "connecting you with" in words(result.transcribe_agent()[-1])
    page.wait_for_function("window.liveStats.ended !== ''")
    event = CallEvent.objects.get(call=call, kind="take_over")
    assert event.data["by"] == "sam-supervisor"
    assert event.data["destination"] == SUPERVISOR_NUMBER
    call.refresh_from_db()
    assert call.status == CallStatus.TRANSFERRED
    assert call.transferred_to == SUPERVISOR_NUMBER


def test_take_over_falls_back_to_rest_when_the_call_process_is_gone(
    studio_daphne, twilio_rest_proxy
):
    # given a live call whose server process does not answer, and an editor listening on B
    line = build_line()
    editor = member(line, "erin-editor", Role.EDITOR)
    call = call_without_stream(line)
    already = len(twilio_rest_proxy.answers)
    cookie = session_cookie(editor)

    async def take_over() -> list[dict]:
        ws = await ws_open(studio_daphne, f"/v1/live/calls/{call.pk}", cookie=cookie)
        assert not isinstance(ws, Refused), ws
        async with ws:
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot" and snapshot["can_take_over"]
            names = [a["name"] for a in snapshot["handover_actions"]]
            assert "transfer_to_sales" in names
            await ws.send(json.dumps({"action": "take_over", "handover": "transfer_to_sales"}))
            return await ws_receive_until(ws, lambda m: m["type"] == "take_over.result", 30)

    # when they take over with the agent's sales handover
    result = asyncio.run(take_over())[-1]

    # then, after no answer from the call's process, Twilio's REST API redirects the call
    assert result["ok"] and result["path"] == "rest", result
    sent = twilio_rest_proxy.answers[already:]
    assert len(sent) == 1
    request, status = sent[0]
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call.call_sid}.json"
    assert status == 200, "Prism validates the request against Twilio's spec"
    dial = ET.fromstring(request.form()["Twiml"]).find("Dial")
    assert dial.find("Number").text == "+31201234567"
    take_over = CallEvent.objects.get(call=call, kind="take_over")
    assert take_over.data == {
        "by": "erin-editor",
        "action": "transfer_to_sales",
        "destination": "+31201234567",
        "via": "rest",
    }
    assert CallEvent.objects.filter(call=call, kind="handover_rest").exists()


def test_listening_is_refused_to_outsiders_anonymous_and_other_origins(studio_daphne):
    line = build_line()
    call = call_without_stream(line)
    viewer = member(line, "vera-viewer", Role.VIEWER)
    stranger = outsider()
    path = f"/v1/live/calls/{call.pk}"
    stranger_cookie, viewer_cookie = session_cookie(stranger), session_cookie(viewer)

    async def attempts() -> dict:
        out = {
            "outsider": await ws_open(studio_daphne, path, cookie=stranger_cookie),
            "anonymous": await ws_open(studio_daphne, path, cookie=None),
            "other origin": await ws_open(
                studio_daphne, path, cookie=viewer_cookie, origin="http://evil.example"
            ),
            "no such call": await ws_open(
                studio_daphne, "/v1/live/calls/999999", cookie=viewer_cookie
            ),
        }
        ws = await ws_open(studio_daphne, path, cookie=viewer_cookie)
        assert not isinstance(ws, Refused), ws
        async with ws:
            snapshot = json.loads(await ws.recv())
            # A listener cannot send audio into the call: Twilio-style media is ignored.
            media = {"event": "media", "media": {"track": "inbound", "payload": "/" * 216}}
            await ws.send(json.dumps(media))
            await ws.send(b"\x00" * 160)
            await ws.send(json.dumps({"action": "take_over", "destination": SUPERVISOR_NUMBER}))
            replies = await ws_receive_until(ws, lambda m: m["type"] == "take_over.result")
        out["viewer"] = (snapshot, replies[-1])
        return out

    seen = asyncio.run(attempts())
    for who in ("outsider", "anonymous", "other origin", "no such call"):
        assert isinstance(seen[who], Refused) and seen[who].status == 403, (who, seen[who])
    snapshot, take_over = seen["viewer"]
    assert snapshot["type"] == "snapshot" and snapshot["can_take_over"] is False
    assert take_over["ok"] is False and "role" in take_over["detail"]
    assert not CallEvent.objects.filter(call=call, kind="take_over").exists()

    # The Listen page: 404 for another workspace's member, the login page for anonymous.
    page_url = f"{studio_daphne.url}/conversations/{call.pk}/listen/"
    cookies = {"sessionid": stranger_cookie}
    assert httpx.get(page_url, cookies=cookies).status_code == 404
    anonymous = httpx.get(page_url)
    assert anonymous.status_code == 302 and "/login/" in anonymous.headers["location"]
    viewer_page = httpx.get(page_url, cookies={"sessionid": viewer_cookie})
    assert viewer_page.status_code == 200
    assert "Editors and above can take over" in viewer_page.text
