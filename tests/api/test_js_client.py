"""The spec's Quick Start, run by node with the official socket.io-client against `callgate serve`."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from callgate.api.auth import create_token
from callgate.media.signals import align, dominant_frequency_hz, sine_pcm16
from tests.support import need, need_program
from tests.test_crash_recovery import SECRET, Server

JS_DIR = Path(__file__).resolve().parents[1] / "js"


def node_with_client() -> str:
    node = need_program("node")
    need(
        (JS_DIR / "node_modules" / "socket.io-client").is_dir(),
        "socket.io-client is not installed: run `npm ci` in tests/js (make test does)",
    )
    return node


def test_quick_start_with_the_official_javascript_client(tmp_path: Path) -> None:
    node = node_with_client()
    tone = sine_pcm16(700.0, 1.0)
    tone_file = tmp_path / "tone.pcm"
    tone_file.write_bytes(tone)
    server = Server(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}")
    try:
        server.start()
        result = subprocess.run(
            [
                node,
                "quickstart.mjs",
                server.url,
                create_token(SECRET, "acme"),
                "089608675796",
                str(tone_file),
            ],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["seen"] == [
        ["newSession", "outbound"],
        ["roomJoined", "success"],
        ["dialStatus", "Dialing"],
        ["dialStatus", "Ringing"],
        ["dialStatus", "Connected"],
        ["checkPointAck", True],
        ["checkPoint", "tone-end", "played"],
        ["dtmfAck", True],
        ["dtmf", "7"],
        ["hangupAck", True],
        ["hangup"],
        ["cdr", "ANSWERED", "CALLER", 16],
    ]
    heard = base64.b64decode(output["heard"])
    assert len(heard) % 320 == 0
    # The echo callee sent the tone back: all of it, in order, undistorted.
    alignment = align(tone, heard)
    assert alignment.peak > 0.99
    start = alignment.lag_samples * 2
    assert abs(dominant_frequency_hz(heard[start : start + len(tone)]) - 700.0) < 5
