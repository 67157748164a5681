"""Answering-machine detection on generated answers: people saying hello, voicemail greetings with
their beep, fax machines; engine tests on frames, then over Socket.IO with POST /pbx/call."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from callgate.listen.amd import AmdDecision, Beep, MachineDetector
from callgate.listen.frames import FrameAnalyser
from callgate.telephony.simulated.scripts import DEFAULT_SCRIPTS
from tests.api.live import connect, live_gateway
from tests.listen import audio
from tests.listen.test_socketio import callee, hear, listened

HUMAN_DECIDED_MS = 2500
MACHINE_DECIDED_MS = 4000
BEEP_TOLERANCE_MS = 50

HELLOS = (("Hello?", "en-us"), ("Yes, hello", "en-gb+f3"), ("Hi, who's this?", "en-us+m3"))
GREETING = (
    "Hi, you have reached the voicemail of Alex Morgan. I cannot take your call right now. "
    "Please leave your name, your number and a short message after the tone."
)


def human(text: str, voice: str, at_s: float = 0.4) -> audio.Scene:
    return audio.Scene(6.0, [(at_s, audio.speech(text, voice), True)])


def machine(voice: str, beep_hz: float = 1000.0, beep_s: float = 0.4) -> tuple[audio.Scene, float]:
    greeting = audio.speech(GREETING, voice)
    beep_at_s = 0.6 + len(greeting) / 8000 + 0.5
    clips = [(0.6, greeting, True), (beep_at_s, audio.tone(beep_hz, beep_s), False)]
    return audio.Scene(beep_at_s + 2.0, clips), beep_at_s


def detect(pcm: bytes, *, want_beep: bool = True) -> list[AmdDecision | Beep]:
    analyser, detector = FrameAnalyser(), MachineDetector(want_beep=want_beep)
    found: list[AmdDecision | Beep] = []
    for frame in audio.frames(pcm):
        found.extend(detector.feed(analyser.analyse(frame, check_all=True)))
    return found


def test_people_saying_hello_are_human_within_2_5_s() -> None:
    for text, voice in HELLOS:
        for noise in (None, "pink"):
            found = detect(human(text, voice).render(noise, 20.0))
            assert len(found) == 1
            decision = found[0]
            assert isinstance(decision, AmdDecision)
            assert decision.result == "human", (text, voice, noise)
            assert decision.after_ms <= HUMAN_DECIDED_MS


def test_greetings_are_machines_within_4_s_and_their_beep_is_found_within_50_ms() -> None:
    for voice, beep_hz in (("en-us", 1000.0), ("en-gb+f3", 1400.0), ("en-us+m3", 1000.0)):
        scene, beep_at_s = machine(voice, beep_hz)
        found = detect(scene.render("pink", 20.0))
        assert len(found) == 2, found
        decision, beep = found
        assert isinstance(decision, AmdDecision)
        assert isinstance(beep, Beep)
        assert decision.result == "machine"
        assert decision.after_ms <= MACHINE_DECIDED_MS
        assert abs(beep.at_ms - beep_at_s * 1000) <= BEEP_TOLERANCE_MS
        assert abs(beep.freq_hz - beep_hz) <= 40


def test_a_fax_calling_tone_is_a_fax() -> None:
    cng = np.concatenate([audio.tone(1100, 0.5), np.zeros(24000), audio.tone(1100, 0.5)])
    found = detect(audio.Scene(5.0, [(0.2, cng, False)]).render())
    assert found == [AmdDecision("fax", 200 + 300)]


def test_silence_is_unknown() -> None:
    found = detect(bytes(6 * 16000))
    assert [(f.result, f.after_ms) for f in found if isinstance(f, AmdDecision)] == [
        ("unknown", 3500)
    ]


async def test_post_pbx_call_machine_detection_over_socketio(tmp_path: Path) -> None:
    hello = audio.write_wav(tmp_path / "hello.wav", human("Hello?", "en-us").render())
    scene, beep_at_s = machine("en-us")
    greeting = audio.write_wav(tmp_path / "greeting.wav", scene.render())
    scripts = (
        callee(r"0819001", hello, hangup_after_s=6.0),
        callee(r"0819002", greeting, hangup_after_s=scene.duration_s),
        *DEFAULT_SCRIPTS,
    )
    async with live_gateway(tmp_path, simulator_scripts=scripts, no_client_grace_s=0) as live:
        client = hear(await connect(live))
        headers = {"Authorization": f"Bearer {live.token()}"}
        results: dict[str, Any] = {}
        for number in ("0819001", "0819002"):
            body = {"phoneNumber": number, "machineDetection": "beep"}
            response = await live.http.post("/pbx/call", json=body, headers=headers)
            assert response.status_code == 200, response.text
            sid = response.json()["data"]["sessionId"]
            ack = await client.ask("joinRoom", {"sessionId": sid})
            assert ack == {"success": True, "error": None}
            await live.step(0.5 + scene.duration_s + 0.5)
            cdr = await client.until("cdr", lambda d, sid=sid: d["sessionId"] == sid)
            results[number] = (cdr, [e for e in listened(client) if e[1]["sessionId"] == sid])
        cdr, events = results["0819001"]
        assert cdr["machineDetection"] == "human"
        assert [name for name, _ in events] == ["machineDetection"]
        assert events[0][1]["result"] == "human"
        assert events[0][1]["afterMs"] <= HUMAN_DECIDED_MS
        cdr, events = results["0819002"]
        assert cdr["machineDetection"] == "machine"
        assert [name for name, _ in events] == ["machineDetection", "beep"]
        assert events[0][1]["afterMs"] <= MACHINE_DECIDED_MS
        assert abs(events[1][1]["atMs"] - beep_at_s * 1000) <= BEEP_TOLERANCE_MS
        # Stored with the CDR, and filterable.
        await live.gateway.recorder.flush()
        for result, number in (("machine", "0819002"), ("human", "0819001")):
            response = await live.http.get(
                "/v1/cdr", params={"filter.machineDetection": f"$eq:{result}"}, headers=headers
            )
            assert response.status_code == 200, response.text
            rows = response.json()["data"]
            assert [row["sessionId"] for row in rows] == [results[number][0]["sessionId"]]
            assert rows[0]["machineDetection"] == result
        # A bad mode is refused before anything is dialled.
        body = {"phoneNumber": "0819003", "machineDetection": "maybe"}
        response = await live.http.post("/pbx/call", json=body, headers=headers)
        assert response.status_code == 400
        assert "machineDetection" in response.text


async def test_early_media_is_never_classified_and_time_starts_at_the_answer(
    tmp_path: Path,
) -> None:
    announcement = audio.speech(
        "The person you are calling is on another call. Please stay on the line, "
        "your call is important to us and will be answered shortly.",
        "en-gb",
    )
    early = audio.write_wav(tmp_path / "early.wav", audio.pcm16(announcement))
    hello_at_s = 0.4
    hello = audio.write_wav(tmp_path / "hello.wav", human("Hello?", "en-us", hello_at_s).render())
    script = callee(r"0819004", hello, hangup_after_s=4.0)
    script = dataclasses.replace(script, ring_s=3.0, early_play=str(early))
    async with live_gateway(
        tmp_path, simulator_scripts=(script, *DEFAULT_SCRIPTS), no_client_grace_s=0
    ) as live:
        client = hear(await connect(live))
        body = {"phoneNumber": "0819004", "machineDetection": "detect", "listen": {}}
        headers = {"Authorization": f"Bearer {live.token()}"}
        response = await live.http.post("/pbx/call", json=body, headers=headers)
        sid = response.json()["data"]["sessionId"]
        await client.ask("joinRoom", {"sessionId": sid})
        await live.step(3.0)  # ringing, with the announcement as early media
        await asyncio.sleep(0.1)  # let the frames of those ticks land
        assert len(client.drain("audio")) > 100  # it was carried to the client...
        assert listened(client) == []  # ...and never listened to
        await live.step(4.5)
        await client.until("cdr", lambda d: d["sessionId"] == sid)
        events = listened(client)
        assert [name for name, _ in events] == [
            "speechStarted",
            "speechStopped",
            "machineDetection",
        ]
        assert abs(events[0][1]["atMs"] - hello_at_s * 1000) <= 60  # from the answer
        assert events[2][1]["result"] == "human"
        assert events[2][1]["afterMs"] <= HUMAN_DECIDED_MS
