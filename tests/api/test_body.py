"""Request bodies on every JSON endpoint: whatever a client sends gets a 4xx envelope, never a 500."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

JSON_ENDPOINTS = ("/pbx/call", "/pbx/hangup", "/v1/simulate/inbound")


async def no_calls(api: Api) -> bool:
    listing = (await api.client.get("/v1/cdr", headers=api.auth())).json()
    return listing["meta"]["totalItems"] == 0 and api.gateway.calls.count_live("acme") == 0


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"a":' * 600 + b"1" + b"}" * 600,
        b'{"phoneNumber":"0811","x":' + b"[" * 1500,
    ],
    ids=["arrays", "objects", "unclosed"],
)
async def test_deeply_nested_json_is_refused_with_400(api: Api, path: str, body: bytes) -> None:
    response = await api.client.post(
        path, content=body, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "errors": "Request body is nested more than 32 levels deep",
        "data": None,
    }
    assert await no_calls(api)


async def test_nesting_within_the_limit_and_brackets_in_strings_are_fine(api: Api) -> None:
    body = (
        b'{"phoneNumber":"0811","note":"' + b"[" * 3000 + b'","x":' + b"[" * 30 + b"]" * 30 + b"}"
    )
    response = await api.client.post(
        "/pbx/call", content=body, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


async def test_an_unexpected_failure_answers_one_500_envelope_and_keeps_serving(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # A real failure underneath (the store is closed), not one staged in the handler. Starlette's
    # own 500 handler would re-raise after answering: a second traceback, the connection dropped.
    await api.gateway.store.close()
    try:
        response = await api.client.get("/v1/cdr", headers=api.auth())
    finally:
        await api.gateway.store.open()
    assert response.status_code == 500
    assert response.json() == {
        "status": 500,
        "errors": "Internal server error; the incident is logged",
        "data": None,
    }
    assert [r.message for r in caplog.records if r.exc_info] == ["unhandled error in GET /v1/cdr"]
    assert (await api.client.get("/v1/cdr", headers=api.auth())).status_code == 200
