"""The REST API as a client sees it: every endpoint, every error path, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import jwt
import pytest

from callgate.calls.ids import new_session_id
from tests.api.conftest import SECRET, Api

AUTH_REQUIRED = {"status": 401, "errors": "Authentication token is required", "data": None}


async def test_place_call_returns_the_specs_envelope(api: Api) -> None:
    response = await api.client.post(
        "/pbx/call", json={"phoneNumber": "089608675796"}, headers=api.auth()
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 200
    assert body["errors"] == ""
    assert body["data"]["phoneNumber"] == "089608675796"
    assert set(body["data"]) == {"phoneNumber", "sessionId"}
    # The record exists as soon as the call is placed.
    cdr = await api.client.get(f"/v1/cdr/{body['data']['sessionId']}", headers=api.auth())
    assert cdr.json()["data"]["destination"] == "089608675796"
    assert cdr.json()["data"]["endTime"] is None


@pytest.mark.parametrize(
    "number",
    [
        "",
        "12",
        "1" * 21,
        "0811-234-567",
        "0811 234 567",
        "++62811",
        "+",
        "62811+",
        "0811abc",
        "0811'; DROP TABLE cdr; --",
        "' OR '1'='1",
        "0811\n234",
        "<script>",
        "٠٨١١٢٣٤٥",  # Arabic-Indic digits are digits to Python, not to a carrier
    ],
)
async def test_invalid_numbers_are_refused_and_place_no_call(api: Api, number: str) -> None:
    response = await api.client.post("/pbx/call", json={"phoneNumber": number}, headers=api.auth())
    assert response.status_code == 400
    assert response.json() == {"status": 400, "errors": "Invalid phone number format", "data": None}
    assert (await api.client.get("/v1/calls", headers=api.auth())).json()["data"] == []
    assert (await api.client.get("/v1/cdr", headers=api.auth())).json()["meta"]["totalItems"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"phoneNumber": 8112345678}, "Invalid phone number format"),
        ({"phoneNumber": None}, "phoneNumber is required"),
        ({}, "phoneNumber is required"),
        (["0811"], "Request body must be a JSON object"),
    ],
)
async def test_malformed_call_requests(api: Api, body: object, message: str) -> None:
    response = await api.client.post("/pbx/call", json=body, headers=api.auth())
    assert response.status_code == 400
    assert response.json() == {"status": 400, "errors": message, "data": None}


async def test_non_json_and_oversized_bodies(api: Api) -> None:
    response = await api.client.post("/pbx/call", content=b"phoneNumber=0811", headers=api.auth())
    assert response.json() == {
        "status": 400,
        "errors": "Request body must be a JSON object",
        "data": None,
    }
    response = await api.client.post("/pbx/call", content=b"{" * 5000, headers=api.auth())
    assert response.status_code == 413
    assert response.json()["data"] is None


async def test_plus_prefixed_numbers_are_accepted(api: Api) -> None:
    sid = await api.call("+6281234567890")
    assert sid


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Authentication token is required"),
        ({"Authorization": ""}, "Authentication token is required"),
        ({"Authorization": "Token abc"}, "Authorization header must be 'Bearer <token>'"),
        ({"Authorization": "Bearer"}, "Authorization header must be 'Bearer <token>'"),
        ({"Authorization": "Bearer not.a.jwt"}, "Authentication token is malformed"),
    ],
)
async def test_missing_or_malformed_tokens(api: Api, headers: dict[str, str], message: str) -> None:
    for method, path in (
        ("POST", "/pbx/call"),
        ("POST", "/pbx/hangup"),
        ("GET", "/v1/cdr"),
        ("GET", f"/v1/cdr/{new_session_id()}"),
        ("GET", "/v1/calls"),
    ):
        response = await api.client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, path
        assert response.json() == {"status": 401, "errors": message, "data": None}
        assert response.headers["www-authenticate"] == "Bearer"


async def test_exact_envelope_for_a_missing_token(api: Api) -> None:
    response = await api.client.post("/pbx/call", json={"phoneNumber": "0811"})
    assert response.json() == AUTH_REQUIRED


async def test_bad_signature_and_expired_tokens(api: Api) -> None:
    forged = jwt.encode(
        {"sub": "acme", "iat": int(time.time())}, "another-secret-" + "q" * 40, algorithm="HS256"
    )
    response = await api.client.get("/v1/calls", headers=api.auth(forged))
    assert response.json()["errors"] == "Authentication token signature is invalid"
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "acme", "iat": now - 100, "exp": now - 10}, SECRET, algorithm="HS256"
    )
    response = await api.client.get("/v1/calls", headers=api.auth(expired))
    assert response.json()["errors"] == "Authentication token has expired"
    no_sub = jwt.encode({"iat": now}, SECRET, algorithm="HS256")
    response = await api.client.get("/v1/calls", headers=api.auth(no_sub))
    assert response.json()["errors"] == "Authentication token lacks the 'sub' claim"
    unsigned = jwt.encode({"sub": "acme", "iat": now}, None, algorithm="none")
    response = await api.client.get("/v1/calls", headers=api.auth(unsigned))
    assert response.status_code == 401


async def test_health_and_docs_need_no_token(api: Api) -> None:
    health = await api.client.get("/health")
    assert health.json()["data"]["status"] == "ok"
    assert "idle" not in health.json()["data"]  # opt-in: it lists the process's descriptors
    sid = await api.call("0811")
    idle = (await api.client.get("/health", params={"idle": "1"})).json()["data"]["idle"]
    assert (idle["live_calls"], idle["simulated_calls"], idle["connected_calls"]) == (1, 1, 0)
    assert idle["open_fds"] > 0
    assert sid
    spec = await api.client.get("/openapi.json")
    paths = spec.json()["paths"]
    assert {"/pbx/call", "/pbx/hangup", "/v1/cdr", "/v1/cdr/{sessionId}", "/v1/calls"} <= set(paths)
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_unknown_route_and_method_use_the_envelope(api: Api) -> None:
    response = await api.client.get("/pbx/nothing", headers=api.auth())
    assert response.json() == {"status": 404, "errors": "Not found", "data": None}
    response = await api.client.get("/pbx/call", headers=api.auth())
    assert response.json() == {"status": 405, "errors": "Method not allowed", "data": None}


async def test_hangup_ends_the_call_and_is_safe_to_repeat(api: Api) -> None:
    sid = await api.call("089608675796")
    await api.advance(2.0)
    await api.advance(5.0)
    response = await api.client.post("/pbx/hangup", json={"sessionId": sid}, headers=api.auth())
    assert response.json() == {"status": 200, "errors": "", "data": {"sessionId": sid}}
    again = await api.client.post("/pbx/hangup", json={"sessionId": sid}, headers=api.auth())
    assert again.status_code == 404
    assert sid in again.json()["errors"]
    cdr = (await api.client.get(f"/v1/cdr/{sid}", headers=api.auth())).json()
    assert cdr["status"] == 200
    data = cdr["data"]
    assert (data["disposition"], data["hangupBy"], data["hangupCauseCode"]) == (
        "ANSWERED",
        "CALLER",
        16,
    )
    assert (data["duration"], data["billableSeconds"]) == (7, 5)
    assert data["hangupCauseText"] == "Call completed successfully"
    assert data["startTime"] == "2025-07-23T03:37:56.000Z"
    assert data["answerTime"] == "2025-07-23T03:37:58.000Z"
    assert data["endTime"] == "2025-07-23T03:38:03.000Z"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"sessionId": new_session_id()}, 404),
        ({"sessionId": "bb4ad603"}, 400),
        ({"sessionId": 7}, 400),
        ({}, 400),
    ],
)
async def test_hangup_errors(api: Api, body: dict[str, object], status: int) -> None:
    response = await api.client.post("/pbx/hangup", json=body, headers=api.auth())
    assert response.status_code == status
    assert response.json()["status"] == status
    assert response.json()["data"] is None
    assert response.json()["errors"]


async def test_accounts_never_see_each_other(api: Api) -> None:
    sid = await api.call("0811")
    other = api.token_for("globex")
    hangup = await api.client.post("/pbx/hangup", json={"sessionId": sid}, headers=api.auth(other))
    assert hangup.status_code == 404
    assert (await api.client.get(f"/v1/cdr/{sid}", headers=api.auth(other))).status_code == 404
    assert (await api.client.get("/v1/calls", headers=api.auth(other))).json()["data"] == []
    listing = (await api.client.get("/v1/cdr", headers=api.auth(other))).json()
    assert listing["meta"]["totalItems"] == 0
    assert (await api.client.get("/v1/calls", headers=api.auth())).json()["data"][0][
        "sessionId"
    ] == sid


async def test_cdr_detail_not_found(api: Api) -> None:
    for sid in (new_session_id(), "nope", "0198355b-f324-718b-95a4-625c43c654bc"):
        response = await api.client.get(f"/v1/cdr/{sid}", headers=api.auth())
        assert response.status_code == 404
        assert response.json()["data"] is None


@pytest.mark.parametrize(
    ("number", "wait_s", "disposition", "cause", "hangup_by"),
    [
        ("0811234486", 1.0, "BUSY", 17, None),
        ("0811234603", 1.0, "BUSY", 21, None),
        ("0811234404", 0.2, "FAILED", 1, None),
        ("0811234503", 0.2, "FAILED", 34, None),
        ("0811234480", 60.0, "NO ANSWER", 19, None),
    ],
)
async def test_every_simulated_outcome_has_its_cdr(
    api: Api, number: str, wait_s: float, disposition: str, cause: int, hangup_by: str | None
) -> None:
    sid = await api.call(number)
    await api.advance(wait_s)
    data = (await api.client.get(f"/v1/cdr/{sid}", headers=api.auth())).json()["data"]
    assert (data["disposition"], data["hangupCauseCode"], data["hangupBy"]) == (
        disposition,
        cause,
        hangup_by,
    )
    assert data["answerTime"] is None
    assert data["billableSeconds"] == 0
    assert data["duration"] == int(wait_s)


async def test_live_calls_listing(api: Api) -> None:
    ringing = await api.call("0811234480")
    await api.advance(0.5)
    connected = await api.call("0811")
    await api.advance(2.0)
    data = (await api.client.get("/v1/calls", headers=api.auth())).json()["data"]
    status = {call["sessionId"]: call["status"] for call in data}
    assert status == {ringing: "Ringing", connected: "Connected"}


async def test_concurrent_call_limit_answers_429(api: Api) -> None:
    api.gateway.admission._max_concurrent = 2
    await api.call("0811234480")
    await api.call("0811234480")
    response = await api.client.post("/pbx/call", json={"phoneNumber": "0811"}, headers=api.auth())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "concurrent" in response.json()["errors"]
    # Another account has its own allowance.
    await api.call("0811", api.token_for("globex"))


async def test_call_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    admission = api.gateway.admission
    admission._rate, admission._burst = 2.0, 3.0
    for _ in range(3):
        await api.call("0811234486")
    response = await api.client.post("/pbx/call", json={"phoneNumber": "0811"}, headers=api.auth())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    await api.advance(0.5)
    await api.call("0811234486")


async def test_cdr_listing_reports_calls_and_rejects_bad_filters(api: Api) -> None:
    first = await api.call("081299990486")
    await api.advance(1.0)
    second = await api.call("081355550000")
    await api.advance(2.0)
    await api.advance(40.0)
    await api.client.post("/pbx/hangup", json={"sessionId": second}, headers=api.auth())
    listing = (await api.client.get("/v1/cdr", headers=api.auth())).json()
    assert [r["sessionId"] for r in listing["data"]] == [second, first]
    assert listing["meta"]["totalItems"] == 2
    assert listing["meta"]["sortBy"] == [["id", "DESC"]]
    filtered = await api.client.get(
        "/v1/cdr?filter.destination=$contains:0812&filter.duration=$gte:0", headers=api.auth()
    )
    assert [r["sessionId"] for r in filtered.json()["data"]] == [first]
    billable = await api.client.get("/v1/cdr?filter.billableSeconds=$gt:30", headers=api.auth())
    assert [r["sessionId"] for r in billable.json()["data"]] == [second]
    bad = await api.client.get("/v1/cdr?filter.colour=$eq:red", headers=api.auth())
    assert bad.status_code == 400
    assert "colour" in bad.json()["errors"]
    assert bad.json()["data"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"callerId": "0811", "didNumber": "0215"}, None),
        ({"callerId": "x", "didNumber": "0215"}, "callerId"),
        ({"callerId": "0811"}, "didNumber"),
        ({"callerId": "0811", "didNumber": "0215", "dtmf": [[1, "12"]]}, "dtmf"),
        ({"callerId": "0811", "didNumber": "0215", "dtmf": [[1, ["2"]]]}, "dtmf"),
        ({"callerId": "0811", "didNumber": "0215", "dtmf": [[1, ""]]}, "dtmf"),
        ({"callerId": "0811", "didNumber": "0215", "audio": "jazz"}, "audio"),
        ({"callerId": "0811", "didNumber": "0215", "hangupAfterS": -1}, "hangupAfterS"),
        ({"callerId": "0811", "didNumber": "0215", "toneHz": 9000}, "toneHz"),
    ],
)
async def test_simulated_inbound_requests(
    api: Api, body: dict[str, object], message: str | None
) -> None:
    response = await api.client.post("/v1/simulate/inbound", json=body, headers=api.auth())
    if message is None:
        assert response.status_code == 200
        assert response.json()["data"]["didNumber"] == "0215"
        return
    assert response.status_code == 400
    assert message in response.json()["errors"]
    assert response.json()["data"] is None


async def test_live_call_counts_follow_calls_per_account(api: Api) -> None:
    calls = api.gateway.calls
    first = await api.call("0811234486")
    await api.call("0811", api.token_for("globex"))
    assert (calls.count_live("acme"), calls.count_live("globex"), calls.count_live("nobody")) == (
        1,
        1,
        0,
    )
    await api.advance(1.0)  # the busy number ends
    assert calls.count_live("acme") == 0
    assert calls.live("acme") == []
    assert first not in {c.session_id for c in calls.live("globex")}


async def test_live_calls_show_the_level_each_way(api: Api) -> None:
    sid = await api.call("0812000440")  # the simulator's callee plays a 440 Hz tone at -12 dBFS
    ringing = (await api.client.get("/v1/calls", headers=api.auth())).json()["data"]
    assert ringing[0]["levels"] == {"heard": None, "said": None}
    await api.advance(2.5)  # answered after 2 s, then half a second of the tone
    (live,) = (await api.client.get("/v1/calls", headers=api.auth())).json()["data"]
    assert live["sessionId"] == sid
    assert live["levels"]["heard"] == pytest.approx(-12.0, abs=0.5)
    assert live["levels"]["said"] == -120.0  # nothing was played to the callee: silence
