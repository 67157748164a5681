"""Listening on a real `callgate serve` process, in real time, with a python-socketio client: the
simulated callee (from the TOML configuration) speaks espeak-ng audio; the call opted in on
POST /pbx/call, so every client of the call gets the events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import socketio

from callgate.api.auth import create_token
from tests.listen import audio
from tests.listen.test_vad import ONSET_TOLERANCE_MS
from tests.served import served

SECRET = "listen-serve-secret-" + "s" * 40


async def test_speech_events_from_a_real_serve_process(tmp_path: Path) -> None:
    words = audio.speech("hello, is anybody there?", "en-us")
    onset_s = 1.0
    wav = audio.write_wav(
        tmp_path / "callee.wav", audio.Scene(4.0, [(onset_s, words, True)]).render()
    )
    config = tmp_path / "callgate.toml"
    config.write_text(
        "[[simulator.callee]]\n"
        'pattern = "0819.*"\nring_s = 0.5\naudio = "silence"\nhangup_after_s = 4.0\n'
        f'play = "{wav}"\n'
    )
    token = create_token(SECRET, "acme")
    with served(
        tmp_path / "data", tmp_path / "serve.log", config=str(config), jwt_secret=SECRET
    ) as url:
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        sio = socketio.AsyncClient(reconnection=False)
        for name in ("speechStarted", "speechStopped", "dialStatus", "cdr"):
            sio.on(name, lambda data, name=name: events.put_nowait((name, data)))
        await sio.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=5)
        try:
            async with httpx.AsyncClient(base_url=url) as http:
                response = await http.post(
                    "/pbx/call",
                    json={"phoneNumber": "08190001", "listen": {"hangoverMs": 300}},
                    headers={"Authorization": f"Bearer {token}"},
                )
            assert response.status_code == 200, response.text
            sid = response.json()["data"]["sessionId"]
            ack = await sio.call("joinRoom", {"sessionId": sid}, timeout=5)
            assert ack == {"success": True, "error": None}
            seen: list[tuple[str, Any]] = []
            while not seen or seen[-1][0] != "cdr":
                seen.append(await asyncio.wait_for(events.get(), 10))
        finally:
            await sio.disconnect()
    heard = [(name, data) for name, data in seen if name.startswith("speech")]
    assert [name for name, _ in heard] == ["speechStarted", "speechStopped"]
    assert heard[0][1]["sessionId"] == sid
    assert abs(heard[0][1]["atMs"] - onset_s * 1000) <= ONSET_TOLERANCE_MS
    end_ms = (onset_s + len(words) / 8000) * 1000
    assert abs(heard[1][1]["atMs"] - end_ms) <= 200
    assert "machineDetection" not in seen[-1][1]  # not asked: the CDR keeps its shape
