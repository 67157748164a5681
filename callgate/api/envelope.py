"""The spec's response envelope `{status, errors, data}` and the errors that produce it."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    """An error the client caused or can act on; rendered as the spec's envelope."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def envelope(data: Any, status: int = 200, errors: str = "") -> dict[str, Any]:
    return {"status": status, "errors": errors, "data": data}


def ok(data: Any) -> JSONResponse:
    return JSONResponse(envelope(data))


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(envelope(None, status, message), status_code=status, headers=headers)
