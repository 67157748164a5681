"""Logs a machine can read: `log_format = "json"` gives one JSON object per line, with the call's
session id on the lines about a call; checked on the formatter and on `callgate serve` itself."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import httpx
import pytest

from callgate.api.auth import create_token
from callgate.config import ConfigError, load_config
from callgate.logs import JsonFormatter, call_of
from tests.served import served

SECRET = "logs-secret-" + "y" * 40


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("callgate.x", logging.INFO, __file__, 1, msg, args, None)
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def test_a_line_about_a_call_names_it() -> None:
    line = json.loads(JsonFormatter().format(record("call %s: no RTP, cause %d", "sid-1", 41)))
    assert line["call"] == "sid-1"
    assert line["message"] == "call sid-1: no RTP, cause 41"
    assert line["level"] == "info"
    assert line["logger"] == "callgate.x"
    assert line["time"].endswith("+00:00")
    assert call_of(record("inbound call %s refused", "sid-2")) == "sid-2"
    assert call_of(record("anything", call="sid-3")) == "sid-3"
    assert call_of(record("recall %s", "x")) is None
    assert call_of(record("writing %d call records failed", 3)) is None


def test_an_exception_stays_on_one_line() -> None:
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        made = logging.LogRecord(
            "callgate.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    text = JsonFormatter().format(made)
    assert "\n" not in text
    assert "RuntimeError: boom" in json.loads(text)["exception"]


def test_an_unknown_format_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="CALLGATE_LOG_FORMAT: text or json"):
        load_config(environ={"CALLGATE_LOG_FORMAT": "xml"})
    assert load_config(environ={"CALLGATE_LOG_FORMAT": "JSON"}).log_format == "json"


def test_serve_writes_only_json_lines(tmp_path: Path) -> None:
    err = tmp_path / "server.err"
    settings = {
        "jwt_secret": SECRET,
        "log_format": "json",
        "max_call_duration_s": "0.5",  # the gateway logs the hang-up, a line about the call
    }
    auth = {"Authorization": f"Bearer {create_token(SECRET, 'default', 60)}"}
    with served(tmp_path / "data", err, **settings) as url:
        placed = httpx.post(f"{url}/pbx/call", json={"phoneNumber": "0812000001"}, headers=auth)
        sid = placed.json()["data"]["sessionId"]
        deadline = time.monotonic() + 15
        while httpx.get(f"{url}/v1/cdr/{sid}", headers=auth).json()["data"]["endTime"] is None:
            assert time.monotonic() < deadline, "the call did not end at its maximum duration"
            time.sleep(0.1)
    lines = [line for line in err.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is JSON, uvicorn's too
    assert any(line["logger"].startswith("uvicorn") for line in parsed)
    about = [line for line in parsed if line.get("call") == sid]
    assert any("maximum duration" in line["message"] for line in about), lines
