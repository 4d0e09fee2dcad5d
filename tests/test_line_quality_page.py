"""The call page's line-quality card, from the stream's "line_quality" timeline event."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client
from django.utils.html import escape

from agents.speech.line_quality import LineQualityMeter
from calls.services import call_event_add
from tests.factories import world_make

pytestmark = pytest.mark.django_db


def noisy_line() -> dict[str, object]:
    """Half a second of speech-level tone over loud white noise: a poor line."""
    rng = np.random.default_rng(3)
    meter = LineQualityMeter()
    for i in range(100):
        noise = rng.normal(0, 1000, 160)  # ≈ −30 dBFS
        tone = 3000 * np.sin(np.arange(160) * 2 * np.pi * 200 / 8000) if i % 4 else 0
        frame = np.clip(noise + tone, -32768, 32767).astype(np.int16)
        meter.feed(frame, voiced=bool(i % 4), timestamp_ms=i * 20)
    return meter.summary()


def test_a_poor_line_shows_its_verdict_measures_and_hint() -> None:
    cache.clear()
    world = world_make()
    call = world.a.call
    quality = noisy_line()
    assert quality["verdict"] == "poor"
    call_event_add(call=call, kind="line_quality", message="Line quality: poor", **quality)
    client = Client()
    client.force_login(world.users["viewer"])

    html = client.get(f"/conversations/{call.pk}/").content.decode()

    assert 'data-line-quality="poor"' in html and '<span class="badge red">poor</span>' in html
    assert "noise floor" in str(quality["hint"]) and escape(str(quality["hint"])) in html
    assert f"{quality['noise_floor_dbfs']} dBFS" in html


def test_a_call_without_the_measure_shows_no_card() -> None:
    cache.clear()
    world = world_make()
    client = Client()
    client.force_login(world.users["viewer"])

    html = client.get(f"/conversations/{world.a.call.pk}/").content.decode()

    assert "data-line-quality" not in html
