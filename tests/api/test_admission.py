"""The per-account concurrency limit holds for a burst of requests, not only for one at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.api.conftest import running


async def test_a_burst_of_placements_gets_no_more_calls_than_the_limit(
    database_url: str, tmp_path: Path
) -> None:
    # A call counts as live only once its first record is durable; the requests admitted before
    # that must count too, or all of a burst passes the check while the records are written.
    async with running(database_url, tmp_path, max_concurrent_calls=4) as api:
        answers = await asyncio.gather(
            *(
                api.client.post("/pbx/call", json={"phoneNumber": "0480"}, headers=api.auth())
                for _ in range(12)
            )
        )
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200] * 4 + [429] * 8
        assert len(list(api.gateway.calls.calls)) == 4
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert "may have 4 at once" in refused.json()["errors"]
        held = api.gateway.probe.snapshot()
        assert held["calls_being_placed"] == 0
