"""A user finds a simulated call in Studio's Conversations: playable recording, transcript."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from calls.models import Call, Recording
from calls.simulator import HangUp, Say, WaitForAgent
from tests.e2e import eventually, place_call
from tests.twilio_call import OWNER_PASSWORD, build_line

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def call_in_thread(server, line, script):
    """The browser fixture keeps an event loop in this thread: run the call in another one."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=place_call(server, line, script)))
    thread.start()
    thread.join(timeout=120)
    return box["result"]


def test_simulated_call_appears_in_conversations_with_recording(
    live_daphne, celery_worker_proc, page
):
    line = build_line()
    result = call_in_thread(
        live_daphne,
        line,
        [WaitForAgent(), Say("What are your opening hours?"), WaitForAgent(), HangUp()],
    )
    call = Call.objects.get(call_sid=result.call_sid)
    assert eventually(lambda: Recording.objects.filter(call=call).exists(), timeout=30)

    base = live_daphne.url
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(line.owner.username)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Conversations").first.click()
    page.locator("a.rowlink").first.click()

    expect(page.get_by_text("opening hours", exact=False).first).to_be_visible()
    expect(page.get_by_text("Monday to Friday", exact=False).first).to_be_visible()
    audio = page.locator("audio#recording")
    expect(audio).to_have_count(1)
    duration = page.evaluate(
        """async () => {
            const audio = document.querySelector('audio#recording');
            if (audio.readyState < 1) {
                await new Promise((ok, fail) => {
                    audio.addEventListener('loadedmetadata', ok, {once: true});
                    audio.addEventListener('error', () => fail(new Error('audio error')), {once: true});
                    audio.load();
                });
            }
            return audio.duration;
        }"""
    )
    assert abs(duration - Recording.objects.get(call=call).duration_ms / 1000) < 0.1
