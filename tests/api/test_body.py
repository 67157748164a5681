"""Request bodies on every JSON endpoint: whatever a client sends gets a 4xx envelope, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

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


class Stream:
    """A request body of `total_bytes`, produced chunk by chunk and counting what was taken."""

    def __init__(self, total_bytes: int, chunk_bytes: int = 64 * 1024) -> None:
        self.total_bytes, self.chunk_bytes, self.taken = total_bytes, chunk_bytes, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.taken < self.total_bytes:
            self.taken += self.chunk_bytes
            yield b" " * self.chunk_bytes


TOO_LARGE = {"status": 413, "errors": "Request body is larger than 4096 bytes", "data": None}


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
async def test_reading_stops_at_the_limit_of_a_streamed_body(api: Api, path: str) -> None:
    body = Stream(100 * 1024 * 1024)
    response = await api.client.post(
        path, content=body, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert body.taken <= 2 * body.chunk_bytes  # not the 100 MB


async def test_a_declared_length_over_the_limit_is_refused_before_reading(api: Api) -> None:
    body = Stream(100 * 1024 * 1024)
    response = await api.client.post(
        "/pbx/call",
        content=body,
        headers={
            **api.auth(),
            "Content-Type": "application/json",
            "Content-Length": str(body.total_bytes),
        },
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert body.taken == 0


async def test_a_body_of_exactly_the_limit_is_read(api: Api) -> None:
    body = b'{"phoneNumber":"0811"}'.ljust(4096)
    response = await api.client.post(
        "/pbx/call", content=body, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"phoneNumber":"0811"}'),
        ("application/x-www-form-urlencoded", b'{"phoneNumber":"0811"}'),
        ("multipart/form-data; boundary=x", b'{"phoneNumber":"0811"}'),
        ("application/json; charset=utf-16", '{"phoneNumber":"0811"}'.encode("utf-16")),
        ("application/xml", b"<phoneNumber>0811</phoneNumber>"),
        ("application/jsonx", b'{"phoneNumber":"0811"}'),
    ],
)
async def test_anything_but_json_is_refused_with_415(
    api: Api, path: str, content_type: str, body: bytes
) -> None:
    response = await api.client.post(
        path, content=body, headers={**api.auth(), "Content-Type": content_type}
    )
    assert response.status_code == 415
    assert response.json() == {
        "status": 415,
        "errors": f"Content-Type must be application/json (UTF-8), got {content_type!r}",
        "data": None,
    }
    assert await no_calls(api)


@pytest.mark.parametrize(
    "body",
    [
        '{"phoneNumber":"0811"}'.encode("utf-16"),  # with its byte order mark
        '{"phoneNumber":"0811"}'.encode("utf-16-le"),
        '{"phoneNumber":"0811"}'.encode("utf-32"),
        b"\xef\xbb\xbf" + b'{"phoneNumber":"0811"}',
        b'{"phoneNumber":"0811","x":"\xff"}',
    ],
    ids=["utf-16", "utf-16-le", "utf-32", "utf-8 bom", "latin-1"],
)
async def test_json_not_in_utf8_is_refused_with_400(api: Api, body: bytes) -> None:
    response = await api.client.post(
        "/pbx/call", content=body, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "errors": "Request body must be JSON in UTF-8, without a byte order mark",
        "data": None,
    }
    assert await no_calls(api)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON;charset="UTF-8"',
        None,  # a client that names no type sends what the endpoint documents
    ],
)
async def test_json_content_types_are_accepted(api: Api, content_type: str | None) -> None:
    headers = api.auth() if content_type is None else {**api.auth(), "Content-Type": content_type}
    response = await api.client.post(
        "/pbx/call", content=b'{"phoneNumber":"0811"}', headers=headers
    )
    assert response.status_code == 200, response.text
