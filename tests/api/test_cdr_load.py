"""`GET /v1/cdr` under load from one account: its queries are bounded and others are not starved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import pytest

from callgate.calls.ids import new_session_id
from callgate.store import SqlRecordStore
from tests.api.conftest import Api, running
from tests.store.sample import record

COSTLY = "&".join(
    f"filter.{('hangupCauseText', 'callerId', 'disposition', 'destination')[i % 4]}"
    f"=$or:$not:$ilike:{'y' * 98}{i:02d}"
    for i in range(8)
)


async def test_an_account_over_its_concurrent_queries_gets_429(api: Api) -> None:
    gate = api.gateway.cdr_queries
    async with AsyncExitStack() as running:
        for _ in range(gate.per_account):  # the account's queries still running
            await running.enter_async_context(gate.slot("acme"))
        response = await api.client.get("/v1/cdr", headers=api.auth())
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.json() == {
            "status": 429,
            "errors": "Too many CDR queries at once: this account may run 2 at a time; "
            "wait for one to finish",
            "data": None,
        }
        other = await api.client.get("/v1/cdr", headers=api.auth(api.token_for("globex")))
        assert other.status_code == 200
    assert (await api.client.get("/v1/cdr", headers=api.auth())).status_code == 200
    assert gate.running("acme") == 0


@pytest.fixture
async def tight(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """A gateway whose listings have next to no database time, and room for two at once."""
    settings = {"cdr_query_budget_s": 1e-9, "cdr_queries_total": 2}
    async with running(database_url, tmp_path, **settings) as gateway:
        yield gateway


async def test_a_query_past_its_budget_gets_503_and_calls_go_on(tight: Api) -> None:
    store = tight.gateway.store
    assert isinstance(store, SqlRecordStore)
    # Enough rows that the listing runs for some milliseconds: an overdue SQLite statement is
    # interrupted within 1 ms, PostgreSQL's statement_timeout has a floor of 1 ms.
    count = 10_000 if store.dialect == "sqlite" else 30_000
    rows = [record(new_session_id(), start=timedelta(seconds=i)) for i in range(count)]
    for start in range(0, len(rows), 5000):
        await store.upsert(rows[start : start + 5000])
    response = await tight.client.get(f"/v1/cdr?{COSTLY}", headers=tight.auth())
    assert response.status_code == 503
    assert response.json() == {
        "status": 503,
        "errors": "This CDR query needed more than 1e-09 s of database time and was stopped; "
        "narrow it (fewer substring filters, a time range with filter.startTime) and retry",
        "data": None,
    }
    # Nothing is left held: the account may query again, and calls are placed and recorded.
    assert tight.gateway.cdr_queries.running("acme") == 0
    sid = await tight.call("0811", tight.token_for("globex"))
    cdr = await tight.client.get(f"/v1/cdr/{sid}", headers=tight.auth(tight.token_for("globex")))
    assert cdr.json()["data"]["destination"] == "0811"


async def test_when_every_query_slot_is_taken_others_get_503(tight: Api) -> None:
    gate = tight.gateway.cdr_queries
    async with gate.slot("globex"), gate.slot("initech"):  # cdr_queries_total = 2
        response = await tight.client.get("/v1/cdr?limit=1", headers=tight.auth())
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json() == {
            "status": 503,
            "errors": "The CDR database is busy with other queries; retry in a moment",
            "data": None,
        }
        # Placing calls does not go through the query slots.
        await tight.call("0811")
