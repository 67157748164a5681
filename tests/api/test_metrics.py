"""`/metrics` as Prometheus scrapes it: the exposition parsed by prometheus_client's own parser,
after real calls on the simulated carrier; and who may scrape."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from callgate.app import create_app
from tests.api.conftest import Api, running

BUSY = "0812000486"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


async def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


async def test_calls_are_counted_by_state_disposition_and_cause(api: Api) -> None:
    before = await scrape(api)
    assert ("callgate_live_calls", ()) not in before  # a family with no calls has no samples
    assert before["callgate_calls_dialled_total", ()] == 0

    answered = await api.call("0812000001")
    await api.call(BUSY)
    await api.advance(0.5)  # both ringing
    ringing = await scrape(api)
    assert ringing[key("callgate_live_calls", direction="outbound", state="Ringing")] == 2
    assert ringing[key("callgate_calls_started_total", direction="outbound")] == 2

    await api.advance(2.0)  # the busy one has ended, the other answered
    talking = await scrape(api)
    assert talking[key("callgate_live_calls", direction="outbound", state="Connected")] == 1
    ended = "callgate_calls_ended_total"
    assert talking[key(ended, direction="outbound", disposition="BUSY", cause="17")] == 1

    hangup = await api.client.post("/pbx/hangup", json={"sessionId": answered}, headers=api.auth())
    assert hangup.status_code == 200
    await api.advance(0.1)
    after = await scrape(api)
    assert not any(name == "callgate_live_calls" for name, _ in after)
    assert after[key(ended, direction="outbound", disposition="ANSWERED", cause="16")] == 1
    # One answered call: its set-up time (the simulator rings 2 s) in the histogram.
    assert after[key("callgate_call_setup_seconds_count", direction="outbound")] == 1
    setup_s = after[key("callgate_call_setup_seconds_sum", direction="outbound")]
    assert setup_s == pytest.approx(2.0, abs=0.1)
    assert after["callgate_calls_dialled_total", ()] == 2
    assert after["callgate_cdr_writer_queued", ()] == 0
    assert after["callgate_cdr_batches_written_total", ()] >= 1
    assert after["callgate_database_refusals_total", ()] == 0
    dropped = "callgate_client_audio_frames_dropped_total"
    assert after[key(dropped, channel="socketio")] == 0
    assert after[key(dropped, channel="inbound")] == 0
    # The answered call's media, as its CDR has it; the busy one had none.
    cdr = (await api.client.get(f"/v1/cdr/{answered}", headers=api.auth())).json()["data"]
    assert cdr["rxPackets"] > 0
    assert after[key("callgate_rtp_packets_total", kind="received")] == cdr["rxPackets"]
    assert after[key("callgate_rtp_packets_total", kind="sent")] == cdr["txPackets"]
    assert after[key("callgate_rtp_packets_total", kind="lost")] == cdr["rxLost"]
    assert after["callgate_call_mos_count", ()] == 1
    assert after["callgate_call_mos_sum", ()] == pytest.approx(cdr["mos"], abs=0.01)
    assert after["callgate_call_jitter_ms_count", ()] == 1
    # The simulated carrier has no signalling to report.
    assert not any(name.startswith("callgate_sip_") for name, _ in after)


async def test_media_tick_lateness_is_observed(api: Api) -> None:
    api.gateway.ticker.start()
    api.clock.advance(0.1)  # five ticks, each run exactly at its deadline on the manual clock
    found = await scrape(api)
    count = found["callgate_media_tick_lateness_seconds_count", ()]
    assert count >= 5
    assert found["callgate_media_tick_lateness_seconds_bucket", (("le", "0.0005"),)] == count
    # A stalled loop: the next deadline passes 7 ms before the tick can run.
    api.clock.set_time(api.clock.monotonic() + 0.027)
    api.clock.advance(0.0)
    late = await scrape(api)
    bucket = "callgate_media_tick_lateness_seconds_bucket"
    assert late["callgate_media_tick_lateness_seconds_count", ()] == count + 1
    assert late[bucket, (("le", "0.005"),)] == count
    assert late[bucket, (("le", "0.01"),)] == count + 1


async def test_a_proxied_request_is_refused_without_a_token(api: Api) -> None:
    response = await api.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403
    assert "metrics_token" in response.json()["errors"]


async def test_a_remote_client_is_refused_without_a_token(api: Api) -> None:
    app = create_app(api.gateway, manage_lifecycle=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://callgate.test") as remote:
        response = await remote.get("/metrics")
    assert response.status_code == 403
    assert response.json()["data"] is None


async def test_with_a_token_the_token_is_needed(database_url: str, tmp_path: Path) -> None:
    token = "m" * 24
    async with running(database_url, tmp_path, metrics_token=token) as api:
        assert (await api.client.get("/metrics")).status_code == 401
        wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer " + "n" * 24})
        assert wrong.status_code == 401
        # An API token is not a metrics token.
        assert (await api.client.get("/metrics", headers=api.auth())).status_code == 401
        good = await api.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert good.status_code == 200
        assert "callgate_calls_dialled_total" in good.text
