"""The browser's μ-law codec (static/live/audio.js) must match the server's bit for bit:
listeners decode what stellar.kernel.audio encoded, and the Playground's microphone frames
are decoded by it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stellar.kernel.audio import pcm16_to_ulaw, ulaw_to_pcm16

AUDIO_JS = Path(__file__).resolve().parents[2] / "static" / "live" / "audio.js"
RUN = """
const fs = require("fs");
global.window = { atob: (s) => Buffer.from(s, "base64").toString("binary"),
                  btoa: (s) => Buffer.from(s, "binary").toString("base64") };
eval(fs.readFileSync(process.argv[1], "utf8"));
const A = window.StellarAudio;
const pcm = new Int16Array(65536);
for (let i = 0; i < 65536; i++) pcm[i] = i - 32768;
const all = new Uint8Array(256);
for (let i = 0; i < 256; i++) all[i] = i;
const decoded = Array.from(A.decodeUlaw(all), (x) => Math.round(x * 32768));
const b64 = A.bytesToBase64(A.base64ToBytes(A.bytesToBase64(all)));
process.stdout.write(JSON.stringify({encoded: Array.from(A.encodeUlaw(pcm)), decoded, b64}));
"""


@pytest.fixture(scope="module")
def js_codec() -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (it also runs Prism): apt-get install -y nodejs")
    out = subprocess.run([node, "-e", RUN, str(AUDIO_JS)], capture_output=True, check=True)
    return json.loads(out.stdout)


def test_js_encoder_matches_the_server_for_every_int16(js_codec) -> None:
    expected = pcm16_to_ulaw(np.arange(-32768, 32768, dtype=np.int16))
    assert bytes(js_codec["encoded"]) == expected


def test_js_decoder_matches_the_server_for_every_byte(js_codec) -> None:
    assert js_codec["decoded"] == ulaw_to_pcm16(bytes(range(256))).tolist()


def test_js_base64_round_trips(js_codec) -> None:
    import base64

    assert base64.b64decode(js_codec["b64"]) == bytes(range(256))
