"""POST /pbx/call's per-call options through the REST API, on a stepped clock and the simulated
carrier: every refusal with its message, and what each option does to the call and its CDR."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callgate.calls.options import MAX_METADATA_BYTES
from callgate.config import AccountSettings
from callgate.telephony.simulated import SimulatedCarrier
from tests.api.conftest import NUMBER, Api, dials, running

CALLER_IDS = (AccountSettings("acme", ("+622150001111", "0215550101")),)


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running(database_url, tmp_path, accounts=CALLER_IDS) as gateway:
        yield gateway


async def place(api: Api, token: str | None = None, **options: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/pbx/call", json={"phoneNumber": NUMBER, **options}, headers=api.auth(token)
    )
    body: dict[str, Any] = response.json()
    body["http"] = response.status_code
    return body


async def cdr(api: Api, sid: str) -> dict[str, Any]:
    await api.gateway.recorder.flush()
    response = await api.client.get(f"/v1/cdr/{sid}", headers=api.auth())
    data: dict[str, Any] = response.json()["data"]
    return data


def carrier(api: Api) -> SimulatedCarrier:
    trunk = api.gateway.trunk
    assert isinstance(trunk, SimulatedCarrier)
    return trunk


BIG = "x" * (MAX_METADATA_BYTES - len('{"k":""}') + 1)

REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"callerId": 621}, "callerId must be a non-empty string, one of the account's caller IDs"),
    ({"callerId": ""}, "callerId must be a non-empty string, one of the account's caller IDs"),
    (
        {"callerId": "+629999"},
        "callerId '+629999' is not one of this account's caller IDs: +622150001111, 0215550101",
    ),
    ({"ringTimeoutS": 0}, "ringTimeoutS must be from 1 to 300 seconds, got 0"),
    ({"ringTimeoutS": 301}, "ringTimeoutS must be from 1 to 300 seconds, got 301"),
    ({"ringTimeoutS": "30"}, "ringTimeoutS must be a number of seconds from 1 to 300"),
    ({"ringTimeoutS": True}, "ringTimeoutS must be a number of seconds from 1 to 300"),
    ({"ringTimeoutS": None}, "ringTimeoutS must be a number of seconds from 1 to 300"),
    ({"maxDurationS": 0.5}, "maxDurationS must be from 1 to 86400 seconds, got 0.5"),
    ({"maxDurationS": 86401}, "maxDurationS must be from 1 to 86400 seconds, got 86401"),
    ({"maxDurationS": [60]}, "maxDurationS must be a number of seconds from 1 to 86400"),
    ({"metadata": [1]}, 'metadata must be a JSON object, e.g. {"crmId": "42"}'),
    ({"metadata": "crm=42"}, 'metadata must be a JSON object, e.g. {"crmId": "42"}'),
    ({"metadata": None}, 'metadata must be a JSON object, e.g. {"crmId": "42"}'),
    (
        {"metadata": {"a.b": 1}},
        "metadata key 'a.b': use 1 to 64 letters, digits, '_' or '-' (keys are also filter"
        " names: filter.metadata.<key>)",
    ),
    ({"metadata": {"": 1}}, "metadata key '': use 1 to 64 letters, digits, '_' or '-'"),
    (
        {"metadata": {"k": BIG}},
        f"metadata is {MAX_METADATA_BYTES + 1} bytes as JSON; at most {MAX_METADATA_BYTES}"
        " bytes are allowed",
    ),
    ({"sipHeaders": ["X-A: 1"]}, 'sipHeaders must be an object of X- headers, e.g. {"X-Crm-Id"'),
    (
        {"sipHeaders": {"P-Asserted-Identity": "sip:1@x"}},
        "sipHeaders: 'P-Asserted-Identity' is not allowed: only X- headers, a name of at most 64"
        " token characters",
    ),
    ({"sipHeaders": {"X-": "1"}}, "sipHeaders: 'X-' is not allowed: only X- headers"),
    ({"sipHeaders": {"X-A B": "1"}}, "sipHeaders: 'X-A B' is not allowed: only X- headers"),
    ({"sipHeaders": {"X-A:": "1"}}, "sipHeaders: 'X-A:' is not allowed: only X- headers"),
    ({"sipHeaders": {"X-" + "a" * 63: "1"}}, "sipHeaders: 'X-" + "a" * 38 + "' is not allowed"),
    ({"sipHeaders": {"X-A": 1}}, "sipHeaders: the value of X-A must be a string"),
    (
        {"sipHeaders": {"X-A": "1\r\nBYE sip:x SIP/2.0"}},
        "sipHeaders: the value of X-A contains CR, LF or another control character",
    ),
    (
        {"sipHeaders": {"X-A": "1\n"}},
        "sipHeaders: the value of X-A contains CR, LF or another control character",
    ),
    (
        {"sipHeaders": {"X-A": "v" * 257}},
        "sipHeaders: the value of X-A is 257 characters; at most 256",
    ),
    (
        {"sipHeaders": {f"X-H{i}": "1" for i in range(11)}},
        "sipHeaders: at most 10 headers, got 11",
    ),
    ({"sipHeaders": {"X-A": "1", "x-a": "2"}}, "sipHeaders: 'x-a' is given twice"),
]


@pytest.mark.parametrize(("options", "message"), REFUSED)
async def test_bad_options_are_refused_and_place_no_call(
    api: Api, options: dict[str, Any], message: str
) -> None:
    body = await place(api, **options)
    assert body["http"] == 400
    assert body["status"] == 400
    assert body["data"] is None
    assert body["errors"].startswith(message), body["errors"]
    assert dials(api) == 0


async def test_an_account_without_caller_ids_may_not_name_one(api: Api) -> None:
    body = await place(api, token=api.token_for("other"), callerId="+622150001111")
    assert body["http"] == 400
    assert body["errors"] == (
        "callerId '+622150001111' is not allowed: this account has no caller IDs configured"
        " (caller_ids in its [accounts.<name>] table); leave callerId out"
    )
    assert dials(api) == 0


async def test_options_reach_the_dial_and_the_cdr(api: Api) -> None:
    metadata = {"crmId": "42", "attempt": 2, "tags": ["vip"], "note": "Grüße"}
    body = await place(
        api,
        callerId="+622150001111",
        metadata=metadata,
        sipHeaders={"X-Crm-Id": "42", "X-Campaign": "spring sale"},
    )
    assert body["http"] == 200, body
    assert set(body["data"]) == {"phoneNumber", "sessionId"}  # the seed's answer, unchanged
    sid = body["data"]["sessionId"]
    assert carrier(api).last_dial == (
        NUMBER,
        "+622150001111",
        (("X-Crm-Id", "42"), ("X-Campaign", "spring sale")),
    )
    live = await cdr(api, sid)
    assert live["callerId"] == "+622150001111"
    assert live["metadata"] == metadata
    await api.advance(3)  # the simulated callee answers at 2 s
    await api.client.post("/pbx/hangup", json={"sessionId": sid}, headers=api.auth())
    ended = await cdr(api, sid)
    assert ended["disposition"] == "ANSWERED"
    assert ended["metadata"] == metadata
    listing = await api.client.get("/v1/cdr?filter.metadata.crmId=42", headers=api.auth())
    assert [r["sessionId"] for r in listing.json()["data"]] == [sid]
    none = await api.client.get("/v1/cdr?filter.metadata.crmId=43", headers=api.auth())
    assert none.json()["data"] == []


async def test_a_seed_shaped_call_has_the_seed_shaped_cdr(api: Api) -> None:
    sid = await api.call(NUMBER)
    assert carrier(api).last_dial == (NUMBER, None, ())
    assert "metadata" not in await cdr(api, sid)


async def test_ring_timeout_ends_an_unanswered_call_as_no_answer(api: Api) -> None:
    """The 480 script rings forever; the gateway's own ring timeout is 60 s."""
    body = await api.client.post(
        "/pbx/call", json={"phoneNumber": "0811480", "ringTimeoutS": 5}, headers=api.auth()
    )
    sid = body.json()["data"]["sessionId"]
    await api.advance(4.9)
    assert (await cdr(api, sid))["endTime"] is None
    await api.advance(0.2)
    ended = await cdr(api, sid)
    assert ended["disposition"] == "NO ANSWER"
    assert ended["hangupCauseCode"] == 19
    assert ended["hangupBy"] is None
    assert ended["duration"] == 5
    assert ended["billableSeconds"] == 0


async def test_max_duration_hangs_up_an_answered_call(api: Api) -> None:
    body = await place(api, maxDurationS=30)
    sid = body["data"]["sessionId"]
    await api.advance(2.5)  # answered at 2 s
    answered = await cdr(api, sid)
    assert answered["disposition"] is None
    assert answered["answerTime"] is not None
    await api.advance(29.4)
    assert (await cdr(api, sid))["endTime"] is None
    await api.advance(0.2)
    ended = await cdr(api, sid)
    assert ended["disposition"] == "ANSWERED"
    assert ended["hangupCauseCode"] == 16
    assert ended["hangupBy"] is None
    assert ended["billableSeconds"] == 30


async def test_the_document_lists_the_options_and_the_configured_caller_ids(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    body = document["paths"]["/pbx/call"]["post"]["requestBody"]
    properties = body["content"]["application/json"]["schema"]["properties"]
    assert {"callerId", "ringTimeoutS", "maxDurationS", "metadata", "sipHeaders"} <= set(properties)
    assert properties["callerId"]["enum"] == ["+622150001111", "0215550101"]
    assert properties["ringTimeoutS"]["maximum"] == 300
    assert "caller_ids" in body["description"]
