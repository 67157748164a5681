"""`GET /v1/cdr` refusals through the real app, on SQLite and PostgreSQL: a 400 naming what to fix."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.conftest import Api

TEXT_FILTERS = [
    f"filter.{field}={prefix}{op}"
    for field in ("destination", "sessionId", "disposition", "hangupCauseText", "callerId")
    for op in ("$eq:", "$contains:", "$ilike:", "$sw:", "$in:a,", "$btw:a,", "")
    for prefix in ("", "$not:")
]


async def get(api: Api, query: str) -> tuple[int, dict[str, object]]:
    response = await api.client.get(f"/v1/cdr?{query}", headers=api.auth())
    body: dict[str, object] = response.json()
    return response.status_code, body


@pytest.mark.parametrize("value", ["\x00", "\x00abc", "ab\x00c", "abc\x00"])
async def test_a_nul_character_in_a_text_filter_is_a_400(api: Api, value: str) -> None:
    await api.call("0811")
    for filter_ in TEXT_FILTERS:
        name, _, operator = filter_.partition("=")
        status, body = await get(api, f"{name}={quote(operator + value)}")
        assert (status, body["data"]) == (400, None), filter_
        assert body["errors"] == f"{name}: a value may not contain the NUL character", filter_


async def test_sqlite_ilike_with_nul_no_longer_matches_every_row(api: Api) -> None:
    await api.call("0811")
    status, body = await get(api, "filter.destination=$ilike:%00")
    assert status == 400
    status, body = await get(api, "filter.destination=$ilike:0812")
    assert (status, body["meta"]["totalItems"]) == (200, 0)  # type: ignore[index]


@pytest.mark.parametrize(
    "value",
    [
        "$lt:0001-01-01T00:00:00+14:00",
        "$gte:0001-01-01T13:59:59.999+14:00",
        "$gt:9999-12-31T23:59:59-14:00",
        "$btw:0001-01-01T00:00:00+01:00,9999-12-31T23:00:00-01:00",
        "$in:2025-01-01,9999-12-31T23:59:59-00:01",
    ],
)
async def test_times_outside_the_representable_range_are_a_400(api: Api, value: str) -> None:
    status, body = await get(api, f"filter.startTime={quote(value)}")
    assert (status, body["data"]) == (400, None)
    assert isinstance(body["errors"], str)
    assert body["errors"].startswith("filter.startTime: ")
    assert "is outside the range 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z" in body["errors"]


@pytest.mark.parametrize(
    "value",
    [
        "$gte:0001-01-01T00:00:00Z",
        "$gte:0001-01-01T14:00:00+14:00",
        "$lte:9999-12-31T23:59:59.999Z",
        "$lt:9999-12-31T09:59:59-14:00",
    ],
)
async def test_times_at_the_edges_of_the_range_are_answered(api: Api, value: str) -> None:
    await api.call("0811")
    status, body = await get(api, f"filter.startTime={quote(value)}")
    assert status == 200, body
    assert body["meta"]["totalItems"] == 1  # type: ignore[index]


async def test_list_values_are_bounded_for_the_whole_request(api: Api) -> None:
    # Each value is a comparison per row scanned: the lists of one request share one allowance.
    values = ",".join(f"08{i:08d}" for i in range(1000))
    query = "&".join([f"filter.destination=$or:$in:{values}"] * 2)
    status, body = await get(api, query)
    assert (status, body["data"]) == (400, None)
    assert body["errors"] == (
        "filter.destination: too many values: at most 1000 in all the $in and $btw lists of a request"
    )
    status, body = await get(api, f"filter.destination=$in:{values}")
    assert status == 200, body


async def test_a_text_value_is_at_most_100_characters(api: Api) -> None:
    status, body = await get(api, "filter.destination=$ilike:" + "x" * 101)
    assert (status, body["data"]) == (400, None)
    assert body["errors"] == "filter.destination: a value is at most 100 characters, got 101"
    status, body = await get(api, "filter.callerId=$in:a," + "x" * 101)
    assert status == 400
    status, body = await get(api, "filter.destination=$ilike:" + "x" * 100)
    assert status == 200, body


async def test_substring_filters_are_at_most_8_per_request(api: Api) -> None:
    terms = [f"filter.destination=$or:$ilike:{i:03d}" for i in range(9)]
    status, body = await get(api, "&".join(terms))
    assert (status, body["data"]) == (400, None)
    assert body["errors"] == (
        "filter.destination: too many substring filters ($ilike, $contains, $sw): at most 8 "
        "per request"
    )
    status, body = await get(api, "&".join(terms[:8]))
    assert status == 200, body


async def test_issue_11s_costly_query_is_refused_at_once(api: Api) -> None:
    terms = [f"filter.destination=$or:$ilike:{'x' * 699}{i % 10}" for i in range(64)]
    status, body = await get(api, "&".join(terms))
    assert (status, body["data"]) == (400, None)
