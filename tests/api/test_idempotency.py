"""Idempotency-Key on POST /pbx/call and /pbx/hangup, on SQLite and PostgreSQL: a retried request
gets its first answer and nothing is dialled twice, also across a restart and for concurrent
duplicates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callgate.api import idempotency
from callgate.api.idempotency import MAX_REMEMBERED
from tests.api.conftest import NUMBER, Api, dials, post_call, running


async def jump(api: Api, seconds: float) -> None:
    """A day passes: jumped over (the media tick skips ahead), not stepped 20 ms at a time."""
    api.clock.set_time(api.clock.monotonic() + seconds)
    await api.advance(0.02)


async def cdr_total(api: Api) -> int:
    listing = await api.client.get("/v1/cdr", headers=api.auth())
    total: int = listing.json()["meta"]["totalItems"]
    return total


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_dials_once(api: Api) -> None:
    first = await post_call(api, "order-1")
    assert first.status_code == 200
    assert "idempotent-replayed" not in first.headers
    for _ in range(3):
        again = await post_call(api, "order-1")
        assert again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
    # The same body written differently is the same request.
    headers = {**api.auth(), "Idempotency-Key": "order-1", "Content-Type": "application/json"}
    spaced = await api.client.post(
        "/pbx/call", content=b'{ "phoneNumber" :  "089608675796" }', headers=headers
    )
    assert spaced.json() == first.json()
    await api.gateway.recorder.flush()
    assert dials(api) == 1
    assert await cdr_total(api) == 1
    # Without a key, every request is a new call.
    assert (await post_call(api, None)).json()["data"]["sessionId"] != first.json()["data"][
        "sessionId"
    ]
    assert dials(api) == 2


async def test_the_same_key_with_another_body_is_refused_with_409(api: Api) -> None:
    first = await post_call(api, "k-409")
    assert first.status_code == 200
    other = await post_call(api, "k-409", number="0811111111")
    assert other.status_code == 409
    assert other.json() == {
        "status": 409,
        "errors": "Idempotency-Key 'k-409' was already used with a different request body for"
        " POST /pbx/call; send a new key for a new request",
        "data": None,
    }
    assert dials(api) == 1
    # The first answer is still the answer for the first body.
    assert (await post_call(api, "k-409")).json() == first.json()


async def test_keys_belong_to_one_account(api: Api) -> None:
    mine = await post_call(api, "shared-key")
    theirs = await post_call(api, "shared-key", token=api.token_for("globex"))
    assert theirs.status_code == 200
    assert theirs.json()["data"]["sessionId"] != mine.json()["data"]["sessionId"]
    assert "idempotent-replayed" not in theirs.headers
    assert dials(api) == 2


async def test_concurrent_duplicates_place_one_call(api: Api) -> None:
    answers = await asyncio.gather(*(post_call(api, "burst-key") for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["data"]["sessionId"] for a in answers}) == 1
    assert sum(1 for a in answers if "idempotent-replayed" not in a.headers) == 1
    await api.gateway.recorder.flush()
    assert dials(api) == 1
    assert await cdr_total(api) == 1


async def test_bad_keys_are_refused(api: Api) -> None:
    for key in ("", "x" * 256, "two words", "caf\u00e9"):
        response = await api.client.post(
            "/pbx/call",
            json={"phoneNumber": NUMBER},
            headers=[
                *((name.encode(), value.encode()) for name, value in api.auth().items()),
                (b"Idempotency-Key", key.encode()),
            ],
        )
        assert response.status_code == 400, key
        assert response.json()["errors"] == (
            "Idempotency-Key must be 1 to 255 visible ASCII characters"
        )
    assert dials(api) == 0


async def test_a_key_is_remembered_for_24_hours(api: Api) -> None:
    first = (await post_call(api, "daily")).json()["data"]["sessionId"]
    hangup = await api.client.post("/pbx/hangup", json={"sessionId": first}, headers=api.auth())
    assert hangup.status_code == 200
    await jump(api, 23 * 3600.0)
    assert (await post_call(api, "daily")).json()["data"]["sessionId"] == first
    await jump(api, 3600.0)
    later = await post_call(api, "daily")
    assert later.status_code == 200
    assert later.json()["data"]["sessionId"] != first
    assert "idempotent-replayed" not in later.headers
    assert dials(api) == 2


async def test_the_database_answers_once_memory_has_moved_on(api: Api) -> None:
    first = await post_call(api, "remembered-in-the-row")
    api.gateway.requests._entries.clear()  # as after MAX_REMEMBERED newer keys
    assert MAX_REMEMBERED >= 1000
    again = await post_call(api, "remembered-in-the-row")
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert (await post_call(api, "remembered-in-the-row", number="0812")).status_code == 409
    assert dials(api) == 1


async def test_hangup_with_a_key_is_answered_once_and_repeats_its_answer(api: Api) -> None:
    sid = await api.call(NUMBER)
    other = await api.call("0811222333")
    headers = {**api.auth(), "Idempotency-Key": "bye-1"}
    first = await api.client.post("/pbx/hangup", json={"sessionId": sid}, headers=headers)
    assert first.status_code == 200
    again = await api.client.post("/pbx/hangup", json={"sessionId": sid}, headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    # Without the key the repeat is what it always was: the call is over.
    plain = await api.client.post("/pbx/hangup", json={"sessionId": sid}, headers=api.auth())
    assert plain.status_code == 404
    wrong = await api.client.post("/pbx/hangup", json={"sessionId": other}, headers=headers)
    assert wrong.status_code == 409
    assert "different request body for POST /pbx/hangup" in wrong.json()["errors"]
    assert len((await api.client.get("/v1/calls", headers=api.auth())).json()["data"]) == 1


async def test_the_openapi_document_describes_the_key(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    for path in ("/pbx/call", "/pbx/hangup"):
        operation = document["paths"][path]["post"]
        names = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert "Idempotency-Key" in names
        assert {"409", "503"} <= set(operation["responses"])


async def test_keys_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as before:
        placed = await post_call(before, "survives")
        assert placed.status_code == 200
        ended = await before.call("0811222333")
        headers = {**before.auth(), "Idempotency-Key": "bye-survives"}
        bye = await before.client.post("/pbx/hangup", json={"sessionId": ended}, headers=headers)
        assert bye.status_code == 200
        assert dials(before) == 2
    async with running(database_url, tmp_path) as after:
        again = await post_call(after, "survives")
        assert again.status_code == 200
        assert again.json() == placed.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert (await post_call(after, "survives", number="0812")).status_code == 409
        bye_again = await after.client.post(
            "/pbx/hangup", json={"sessionId": ended}, headers=headers
        )
        assert bye_again.status_code == 200
        assert bye_again.json() == bye.json()
        assert bye_again.headers["idempotent-replayed"] == "true"
        assert dials(after) == 0
        assert await cdr_total(after) == 2


async def test_memory_keeps_a_bounded_number_of_answers(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "MAX_REMEMBERED", 3)
    first = await post_call(api, "key-0")
    for i in range(1, 6):
        assert (await post_call(api, f"key-{i}")).status_code == 200
    assert len(api.gateway.requests._entries) == 3
    again = await post_call(api, "key-0")  # forgotten in memory, found with its call
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert dials(api) == 6
