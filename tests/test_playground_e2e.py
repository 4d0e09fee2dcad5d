# ruff: noqa: F811  (fixtures imported from tests.live_fixtures are redefined as arguments)
"""The Playground end to end: Chromium's fake microphone talks to an agent through Daphne.

Chromium plays a WAV of a caller's question as its microphone; the page turns it into
Twilio Media Streams frames, the server runs the same call session as a phone call, the
agent's spoken answer comes back (media frames) with its transcript, and the session is
stored in Conversations (source Playground) with transcript and recording.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import websockets
from django.contrib.auth import get_user_model
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from agents.models import Environment, Membership
from agents.speech.registry import get_tts
from calls.live.playground import playground_session_create, playground_token_for
from calls.models import Call, CallEvent, CallSource, CallStatus, Recording, TranscriptSegment
from calls.simulator import write_wav
from stellar.kernel.audio import frames, pcm16_to_ulaw, resample
from tests.conftest import CHROMIUM_ARGS
from tests.e2e import eventually, words
from tests.live_fixtures import (  # noqa: F401  (fixtures)
    Refused,
    _studio_server,
    browser_cookie,
    session_cookie,
    studio_daphne,
    twilio_rest_proxy,
    ws_open,
)
from tests.twilio_call import build_line

pytestmark = pytest.mark.e2e

MIC_RATE = 48_000
QUESTION = "What are your opening hours?"


def question_wav(path: Path) -> Path:
    """The caller's question as a 48 kHz mono WAV: after the greeting, then a long pause."""
    speech = resample(get_tts().synthesize(QUESTION), 8000, MIC_RATE).astype(np.int16)
    lead, tail = np.zeros(int(4.5 * MIC_RATE), np.int16), np.zeros(20 * MIC_RATE, np.int16)
    write_wav(path, np.concatenate([lead, speech, tail]), rate=MIC_RATE)
    return path


@pytest.fixture
def mic_page(tmp_path, request) -> Iterator:
    """A page in Chromium whose microphone plays the question (no permission prompt)."""
    wav = question_wav(tmp_path / "question.wav")
    executable = os.environ.get("STELLAR_TEST_CHROMIUM") or "/usr/bin/chromium"
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        context = browser.new_context()
        context.set_default_timeout(20_000)
        page = context.new_page()
        try:
            yield page
        finally:
            if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
                shot = tmp_path / "failure.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"--- page at {page.url}; screenshot: {shot}")
                print("--- playgroundStats:", page.evaluate("window.playgroundStats"))
            connections.close_all()  # ORM use while Playwright runs has a connection of its own
            browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.mark.browser
def test_playground_talks_to_the_agent_and_is_saved_like_a_call(
    studio_daphne, celery_worker_proc, mic_page
):
    # given an agent (a published v1 and its draft) and its owner signed in to Studio
    line = build_line()
    owner = line.agent.workspace.memberships.get(role="owner").user
    page = mic_page
    page.context.add_cookies([browser_cookie(studio_daphne, owner)])

    # when they start the Playground on the draft in Staging and ask a question out loud
    page.goto(f"{studio_daphne.url}/agents/{line.agent.pk}/playground/")
    page.get_by_label("Environment").select_option(label="Staging")
    page.get_by_label("Version").select_option(label="Draft (unpublished changes included)")
    page.get_by_role("button", name="Start").click()

    # then the agent answers: its voice arrives as media frames and the transcript shows it
    transcript = page.locator("#pg-transcript")
    expect(transcript).to_contain_text("thank you for calling", timeout=30_000)
    expect(transcript).to_contain_text("opening hours", timeout=40_000)
    expect(transcript).to_contain_text("Monday", timeout=30_000)
    stats = page.evaluate("window.playgroundStats")
    assert stats["framesSent"] > 200, stats  # the microphone streamed (20 ms frames)
    assert stats["mediaReceived"] > 100, stats  # the agent's greeting and answer
    assert stats["marksEchoed"] >= 1, stats  # played back, then acknowledged like Twilio
    activity = page.locator("#pg-activity")
    expect(activity).to_contain_text("Agent chose")

    # when they stop, the session is saved in Conversations like a call
    page.get_by_role("button", name="Stop").click()
    page.wait_for_function("window.playgroundStats.state === 'ended'")
    call = eventually(
        lambda: Call.objects.filter(pk=stats["callId"], ended_at__isnull=False).first()
    )
    assert call is not None
    assert call.source == CallSource.PLAYGROUND and call.call_sid.startswith("PG")
    assert call.status == CallStatus.COMPLETED
    assert call.version_label == "draft"
    assert call.environment == Environment.objects.get(
        workspace=line.agent.workspace, kind="staging"
    )
    caller = TranscriptSegment.objects.filter(call=call, speaker="caller")
    assert any("opening hours" in words(s.text) for s in caller)
    agent = TranscriptSegment.objects.filter(call=call, speaker="agent")
    assert any("monday" in words(s.text) for s in agent)
    assert CallEvent.objects.filter(call=call, kind="playground_started").exists()
    recording = eventually(lambda: Recording.objects.filter(call=call).first(), timeout=60)
    assert recording is not None and recording.duration_ms > 5_000

    page.get_by_role("link", name="Open this session in Conversations").click()
    expect(page.get_by_text("Playground").first).to_be_visible()
    expect(page.locator("ol.transcript")).to_contain_text("Monday")
    page.goto(f"{studio_daphne.url}/conversations/")
    expect(page.locator("#results")).to_contain_text("Playground")


async def _talk(server, path: str, cookie: str, call_sid: str, speech: bytes) -> list[dict]:
    """Play Twilio (like the Playground page does) until the server ends the session."""
    ws = await ws_open(server, path, cookie=cookie)
    assert not isinstance(ws, Refused), ws
    received: list[dict] = []
    stream_sid = "MZ" + "1" * 32
    silence = b"\xff" * 160
    audio = [silence] * 150 + frames(speech) + [silence] * 1500  # greeting, question, pause
    async with ws:

        async def send_frames() -> None:
            for i, frame in enumerate(audio):
                payload = base64.b64encode(frame).decode()
                media = {"track": "inbound", "chunk": str(i + 1), "payload": payload}
                await ws.send(
                    json.dumps({"event": "media", "streamSid": stream_sid, "media": media})
                )
                await asyncio.sleep(0.01)  # twice real time

        await ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
        start = {"streamSid": stream_sid, "callSid": call_sid, "tracks": ["inbound"]}
        await ws.send(json.dumps({"event": "start", "streamSid": stream_sid, "start": start}))
        sender = asyncio.create_task(send_frames())
        try:
            async for raw in ws:
                message = json.loads(raw)
                received.append(message)
                if message.get("event") == "mark":  # "played" at once
                    echo = {"event": "mark", "streamSid": stream_sid, "mark": message["mark"]}
                    await ws.send(json.dumps(echo))
        except websockets.ConnectionClosed:
            pass
        finally:
            sender.cancel()
    return received


def test_playground_handover_is_shown_and_ends_the_session(studio_daphne):
    # given a Playground session of v1 started by an editor
    line = build_line()
    owner = line.agent.workspace.memberships.get(role="owner").user
    version = line.agent.versions.get(number=1)
    environment = Environment.objects.get(workspace=line.agent.workspace, kind="development")
    call = playground_session_create(
        user=owner, agent=line.agent, environment=environment, version=version
    )
    path = f"/v1/live/playground/{playground_token_for(call=call, user=owner)}"
    someone_else = get_user_model().objects.create_user("eve-editor")
    Membership.objects.create(workspace=line.agent.workspace, user=someone_else, role="editor")
    speech = pcm16_to_ulaw(
        get_tts().synthesize("Hi, I would like to buy something. Can I talk to sales?")
    )
    owner_cookie, other_cookie = session_cookie(owner), session_cookie(someone_else)

    # when another member tries the owner's session token, they are refused
    refused = asyncio.run(ws_open(studio_daphne, path, cookie=other_cookie))
    assert isinstance(refused, Refused) and refused.status == 403

    # when the owner asks for sales
    received = asyncio.run(_talk(studio_daphne, path, owner_cookie, call.call_sid, speech))

    # then the agent's handover is shown (not dialled) and the session ends like a call
    ended = [m for m in received if m.get("event") == "ended"]
    assert len(ended) == 1 and ended[0]["kind"] == "handover", received[-5:]
    assert "transfer_to_sales" in ended[0]["detail"] and "+31201234567" in ended[0]["detail"]
    assert sum(1 for m in received if m.get("event") == "media") > 50
    said = [m["text"] for m in received if m.get("event") == "transcript"]
    assert any("sales" in words(t) for t in said), said
    call = eventually(lambda: Call.objects.filter(pk=call.pk, ended_at__isnull=False).first())
    assert call is not None and call.stream_ended_at is not None
    assert call.status == CallStatus.COMPLETED
    assert "transfer_to_sales" in call.outcome
    assert call.version_label == "v1" and call.agent_version == version
    assert CallEvent.objects.filter(call=call, kind="handover_chosen").exists()

    # and the token cannot reopen the finished session
    again = asyncio.run(ws_open(studio_daphne, path, cookie=owner_cookie))
    assert isinstance(again, Refused) and again.status == 403
