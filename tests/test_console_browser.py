"""The console in a real headless Chromium against `callgate serve`: log in, watch a call placed by
the API appear and its meter move, hang it up from the page, filter the records. Screenshots are
saved under `.artifacts/console/` for a person to look at."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from callgate.api.auth import create_token
from tests.served import served
from tests.support import need

pytestmark = pytest.mark.peers

SECRET = "console-secret-" + "z" * 40
ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts" / "console"
TONE = "0812000440"  # the simulator's callee answers after 2 s and plays 440 Hz at -12 dBFS
BUSY = "0812000486"
# Chromium as a root sandbox-less headless browser on a machine with no network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[object]:
    chromium = shutil.which("chromium")
    need(chromium is not None, "chromium is not installed (Debian package chromium)")
    assert chromium is not None
    try:
        from playwright import sync_api
    except ImportError:
        need(False, "playwright is not installed (a dev dependency)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def until(condition: Callable[[], object], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_console_follows_and_ends_a_call(browser: object, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    token = create_token(SECRET, "default", 3600)
    auth = {"Authorization": f"Bearer {token}"}
    with served(tmp_path / "data", tmp_path / "server.log", jwt_secret=SECRET) as url:
        page = browser.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
        page.goto(f"{url}/console")

        page.fill("#token", "not-a-token")
        page.click("button[type=submit]")
        page.wait_for_selector("#login-error:text-matches('token', 'i')")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_selector("#app", state="visible")
        assert page.inner_text("#who") == "account default"

        placed = httpx.post(
            f"{url}/pbx/call", json={"phoneNumber": TONE, "record": True}, headers=auth
        )
        sid = placed.json()["data"]["sessionId"]
        row = f'#live tr[data-session="{sid}"]'
        page.wait_for_selector(row)
        page.wait_for_selector(f"{row} .status:text-is('Connected')", timeout=15_000)
        page.wait_for_selector(f"{row}.recording")  # marked REC while it is recorded
        # The meter of what the callee sends moves to the tone's level; nothing is said to it.
        page.wait_for_function(
            "sel => Number(document.querySelector(sel).dataset.level) > -20",
            arg=f"{row} td.heard",
            timeout=5_000,
        )
        heard = float(page.get_attribute(f"{row} td.heard", "data-level") or "nan")
        assert heard == pytest.approx(-12.0, abs=1.0)
        assert float(page.get_attribute(f"{row} td.said", "data-level") or "nan") == -120.0
        assert page.inner_text(f"{row} td.said .db") == "silent"
        width = page.eval_on_selector(f"{row} td.heard .meter > span", "e => e.style.width")
        assert width == "80%"  # -12 dBFS on a -60..0 scale
        page.screenshot(path=str(ARTIFACTS / "live-call.png"), full_page=True)

        page.click(f"{row} button.hangup")
        page.wait_for_selector(row, state="detached", timeout=5_000)
        cdr = httpx.get(f"{url}/v1/cdr/{sid}", headers=auth).json()["data"]
        assert (cdr["disposition"], cdr["hangupBy"]) == ("ANSWERED", "CALLER")
        assert cdr["recorded"] is True

        # The recorded call's detail has a player that loads the WAV (fetched with the token).
        page.click("#f-clear")
        page.click(f'#cdrs tr[data-session="{sid}"]')
        page.wait_for_selector("#recording", state="visible")
        page.wait_for_function("() => document.getElementById('player').readyState >= 1")
        talk_s = (
            datetime.fromisoformat(cdr["endTime"]) - datetime.fromisoformat(cdr["answerTime"])
        ).total_seconds()
        duration_s = page.eval_on_selector("#player", "e => e.duration")
        assert duration_s == pytest.approx(talk_s, abs=0.1)
        page.eval_on_selector("#player", "e => { e.muted = true; return e.play(); }")
        page.wait_for_function("() => document.getElementById('player').currentTime > 0.2")
        assert page.inner_text("#recording-error") == ""
        page.screenshot(path=str(ARTIFACTS / "record-recording.png"), full_page=True)
        page.click("#detail-close")

        busy = httpx.post(f"{url}/pbx/call", json={"phoneNumber": BUSY}, headers=auth)
        busy_sid = busy.json()["data"]["sessionId"]

        def busy_ended() -> bool:
            record = httpx.get(f"{url}/v1/cdr/{busy_sid}", headers=auth).json()["data"]
            return record["endTime"] is not None

        until(busy_ended, "the busy call's record to close")

        page.click("#f-clear")
        page.wait_for_selector("#page-info:text-matches('2 records')")
        assert page.locator("#cdrs tbody tr").count() == 2
        assert page.locator("#chart rect").count() >= 1
        # The MOS chart counts the answered call in its half-point bin, the busy one (no media) apart.
        mos = httpx.get(f"{url}/v1/cdr/{sid}", headers=auth).json()["data"]["mos"]
        assert isinstance(mos, float), mos
        assert 4.0 <= mos <= 4.5, mos
        bars = page.eval_on_selector_all(
            "#mos-chart rect", "rs => rs.map(r => [Number(r.dataset.low), Number(r.dataset.count)])"
        )
        assert [count for low, count in bars if count] == [1]
        assert [low for low, count in bars if count] == [4.0]
        assert page.inner_text("#mos-summary") == "1 with media, 1 without (never answered)"
        page.select_option("#f-field", "disposition")
        page.select_option("#f-op", "$eq")
        page.fill("#f-value", "BUSY")
        page.click("#cdr-form button[type=submit]")
        page.wait_for_selector("#page-info:text-matches('1 records')")
        assert page.locator("#cdrs tbody tr").count() == 1
        assert page.inner_text("#cdrs tbody td.disposition") == "BUSY"
        page.screenshot(path=str(ARTIFACTS / "records-filtered.png"), full_page=True)

        page.click(f'#cdrs tr[data-session="{busy_sid}"]')
        page.wait_for_selector("#detail", state="visible")
        assert page.inner_text('#detail-fields dd[data-field="hangupCauseCode"]') == "17"
        assert page.is_hidden("#recording")  # never answered: nothing recorded
        page.screenshot(path=str(ARTIFACTS / "record-detail.png"), full_page=True)

        page.select_option("#f-field", "duration")
        page.select_option("#f-op", "$gt")
        page.fill("#f-value", "abc")
        page.click("#cdr-form button[type=submit]")
        page.wait_for_selector("#cdr-error:text-matches('duration')")
    errors = (tmp_path / "server.log").read_text(errors="replace")
    assert "Traceback" not in errors, errors[-3000:]
