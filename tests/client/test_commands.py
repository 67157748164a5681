"""`callgate call` and `callgate cdr` as a user runs them (subprocesses, output not a terminal)
against a real `callgate serve`: plain progress lines, the CDR printed, the recording's content."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

from callgate.media.signals import dominant_frequency_hz, rms_dbfs, sine_pcm16


def callgate(*args: str, token: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    env |= {"CALLGATE_URL": url, "CALLGATE_TOKEN": token, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "callgate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_wav(path: Path, pcm16: bytes) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(pcm16)
    return path


def tail_json(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{") :])


def test_call_plays_records_presses_keys_and_prints_the_cdr(
    gateway: str, token: str, tmp_path: Path
) -> None:
    tone = write_wav(tmp_path / "tone.wav", sine_pcm16(800.0, 1.0))
    record = tmp_path / "far.wav"
    done = callgate(
        "call", "0811222001", "--play", str(tone), "--record", str(record), "--dtmf", "1#",
        "--hangup-after", "4", token=token, url=gateway,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    progress = [line.split("s  ", 1)[1] for line in lines if " s  " in line]
    assert progress[:4] == ["dialing 0811222001", "Dialing", "Ringing", "Connected"], done.stdout
    assert "played tone.wav" in progress
    assert "sent keys 1#" in progress
    assert {"key 1", "key #"} <= set(progress)  # the echo callee pressed them back
    assert progress[-1] == "ended: ANSWERED (Call completed successfully)"
    assert "\x1b[" not in done.stdout  # no terminal codes in a pipe
    cdr = tail_json(done.stdout)
    assert (cdr["destination"], cdr["disposition"], cdr["hangupBy"]) == (
        "0811222001",
        "ANSWERED",
        "CALLER",
    )
    with wave.open(str(record)) as wav:
        far = wav.readframes(wav.getnframes())
    frames = [far[i : i + 320] for i in range(0, len(far), 320)]
    voiced = [f for f in frames if rms_dbfs(f) > -40]  # our tone, echoed (and the DTMF tones)
    assert abs(dominant_frequency_hz(b"".join(voiced[:50])) - 800.0) < 10


def test_a_busy_call_exits_1_with_its_cdr(gateway: str, token: str) -> None:
    done = callgate("call", "0811222486", token=token, url=gateway)
    assert done.returncode == 1
    assert "ended: BUSY (Destination busy)" in done.stdout
    assert tail_json(done.stdout)["hangupCauseCode"] == 17


def test_hangup_after(gateway: str, token: str) -> None:
    done = callgate("call", "0811222002", "--hangup-after", "1", token=token, url=gateway)
    assert done.returncode == 0, done.stderr
    cdr = tail_json(done.stdout)
    assert cdr["billableSeconds"] in (1, 2)
    assert cdr["hangupBy"] == "CALLER"


def test_cdr_list_and_show(gateway: str, token: str) -> None:
    for _ in range(3):
        assert callgate("call", "0811333404", token=token, url=gateway).returncode == 1
    query = ("--filter", "destination=$eq:0811333404", "--sort", "id:ASC")
    listed = callgate("cdr", "list", *query, "--json", token=token, url=gateway)
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [r["disposition"] for r in records] == ["FAILED"] * 3
    as_csv = callgate("cdr", "list", *query, "--csv", token=token, url=gateway)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [row["sessionId"] for row in rows] == [r["sessionId"] for r in records]
    assert rows[0]["hangupCauseCode"] == "1"
    table = callgate("cdr", "list", *query, token=token, url=gateway)
    assert table.returncode == 0
    assert all(r["sessionId"] in table.stdout for r in records)
    shown = callgate("cdr", "show", records[0]["sessionId"], token=token, url=gateway)
    assert json.loads(shown.stdout) == records[0]
    missing = callgate("cdr", "show", "no-such-call", token=token, url=gateway)
    assert missing.returncode == 1
    assert missing.stderr.startswith("callgate: 404")
