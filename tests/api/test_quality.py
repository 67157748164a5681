"""Call quality in every CDR: the simulated carrier loses and delays the callee's frames, and the
closing record carries what a receiver measured, filterable like any field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callgate.calls.quality import MediaQuality, mos_from
from callgate.telephony.simulated.scripts import DEFAULT_SCRIPTS, CalleeScript
from tests.api.conftest import running

LOSSY = CalleeScript(r"0812777\d+", ring_s=1.0, loss_percent=10.0, jitter_ms=30.0)


def test_the_e_model_scores_loss_and_delay() -> None:
    assert mos_from(0.0, 60.0) == pytest.approx(4.38, abs=0.01)  # G.711 at its best
    assert mos_from(5.0, 60.0) < mos_from(1.0, 60.0) < mos_from(0.0, 60.0)
    assert mos_from(0.0, 400.0) < mos_from(0.0, 60.0)
    assert mos_from(100.0, 60.0) < 1.5  # R about 16: every frame lost
    quality = MediaQuality(90, 10, 0, 10, 3.0, 0, 100)
    assert quality.loss_percent == 10.0
    assert MediaQuality(0, 0, 0, 0, 0.0, 0, 0).mos is None


async def test_a_lossy_call_records_its_loss_and_a_lower_mos(
    database_url: str, tmp_path: Path
) -> None:
    scripts = (LOSSY, *DEFAULT_SCRIPTS)
    async with running(database_url, tmp_path, simulator_scripts=scripts) as api:
        lossy = await api.call("0812777001")
        clean = await api.call("0812000001")
        busy = await api.call("0812000486")
        await api.advance(2.0)  # both answered (the lossy callee after 1 s, the other after 2 s)
        await api.advance(10.0)
        for sid in (lossy, clean):
            response = await api.client.post(
                "/pbx/hangup", json={"sessionId": sid}, headers=api.auth()
            )
            assert response.status_code == 200
        await api.advance(0.1)

        async def cdr(sid: str) -> dict[str, Any]:
            found = await api.client.get(f"/v1/cdr/{sid}", headers=api.auth())
            data: dict[str, Any] = found.json()["data"]
            return data

        bad, good, never = await cdr(lossy), await cdr(clean), await cdr(busy)
        # 11 s of media at 50 frames/s: each frame is received, or lost on the way.
        assert isinstance(bad["rxPackets"], int)
        assert isinstance(bad["rxLost"], int)
        assert bad["rxPackets"] + bad["rxLost"] == pytest.approx(550, abs=3)
        assert 0.05 < bad["rxLost"] / 550 < 0.15  # seeded: 10 % give or take
        assert bad["rxConcealed"] == bad["rxLost"] + bad["rxLate"]
        assert isinstance(bad["rxJitterMs"], float)
        assert 5.0 < bad["rxJitterMs"] < 30.0
        assert isinstance(bad["mos"], float)
        assert isinstance(good["mos"], float)
        assert bad["mos"] < 4.0 < good["mos"]
        assert (good["rxLost"], good["rxLate"], good["rxJitterMs"]) == (0, 0, 0.0)
        assert good["rxPackets"] == pytest.approx(500, abs=3)
        assert good["txPackets"] == pytest.approx(500, abs=3)  # the gateway sends every tick
        assert never["rxPackets"] is None
        assert never["mos"] is None
        assert bad["clientFramesDropped"] == good["clientFramesDropped"] == 0

        listing = await api.client.get(
            "/v1/cdr", params={"filter.mos": "$lt:3.9"}, headers=api.auth()
        )
        assert [row["sessionId"] for row in listing.json()["data"]] == [lossy]
        refused = await api.client.get(
            "/v1/cdr", params={"filter.mos": "$lt:good"}, headers=api.auth()
        )
        assert refused.status_code == 400
        assert "filter.mos" in refused.json()["errors"]
