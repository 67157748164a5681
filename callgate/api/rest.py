"""The REST endpoints of the Outgoing Call Service, exactly as the spec names and shapes them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import FileResponse, JSONResponse

from callgate.api.auth import account_from_token, bearer_token
from callgate.api.body import json_object
from callgate.api.cdr_query import (
    CdrQueryError,
    cdr_page_response,
    parse_cdr_query,
    run_listing,
)
from callgate.api.context import ApiContext
from callgate.api.envelope import ApiError, ok
from callgate.api.idempotency import request_key
from callgate.api.limits import BUSY
from callgate.api.openapi import call_option_schemas
from callgate.calls.ids import is_session_id
from callgate.calls.options import CallOptionsError, parse_call_options
from callgate.calls.records import CallRecord, iso_ms
from callgate.calls.recordstore import StoreBusy
from callgate.calls.service import CallNotFound
from callgate.calls.transfer import MODES, TransferError
from callgate.listen.options import OptionsError, parse_listen, parse_machine_detection
from callgate.media.signals import rms_dbfs

# Digits with an optional leading +: 3 digits (short codes) to 20 (E.164's 15 plus trunk prefixes).
PHONE_RE = re.compile(r"\+?[0-9]{3,20}")

router = APIRouter()


def context(request: Request) -> ApiContext:
    api: ApiContext = request.app.state.api
    return api


def account(request: Request) -> str:
    return account_from_token(
        context(request).jwt_secret, bearer_token(request.headers.get("authorization"))
    )


Account = Annotated[str, Depends(account)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry safely: the same key and body within 24 h get the first answer again"
        " (same sessionId, header Idempotent-Replayed: true) and nothing is done twice; the same"
        " key with another body is refused with 409. Per account, kept across restarts.",
    ),
]
KEYED_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "The Idempotency-Key was already used with a different body"},
    503: {"description": "The database did not answer in time: nothing was done (Retry-After)"},
}


def _body_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post(
    "/pbx/call",
    summary="Place an outbound call",
    openapi_extra=_body_schema(
        {
            "phoneNumber": {
                "type": "string",
                "example": "089608675796",
                "pattern": PHONE_RE.pattern,
            },
            "record": {"type": "boolean"},
            "listen": {
                "type": "object",
                "description": "Opt-in speech events and barge-in (docs/listen.md)",
            },
            "machineDetection": {"type": "string", "enum": ["detect", "beep"]},
            **call_option_schemas(frozenset()),
        },
        ["phoneNumber"],
    ),
    responses=KEYED_ERRORS,
)
async def place_call(
    request: Request, account: Account, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    body = await json_object(request)
    number = body.get("phoneNumber")
    if number is None:
        raise ApiError(400, "phoneNumber is required")
    if not isinstance(number, str) or not PHONE_RE.fullmatch(number):
        raise ApiError(400, "Invalid phone number format")
    record = body.get("record")
    if "record" in body and not isinstance(record, bool):  # null too: leave it out instead
        raise ApiError(400, "record must be a boolean (true to record the call)")
    try:  # opt-in listening (docs/listen.md); absent, nothing changes
        listen = parse_listen(body["listen"]) if "listen" in body else None
        machine = (
            parse_machine_detection(body["machineDetection"])
            if "machineDetection" in body
            else None
        )
        options = parse_call_options(body, context(request).caller_ids.get(account, frozenset()))
    except (OptionsError, CallOptionsError) as exc:
        raise ApiError(400, str(exc)) from None
    key = request_key(idempotency_key, body)
    return await context(request).requests.place_call(
        account, number, key, record, listen=listen, machine_detection=machine, options=options
    )


@router.post(
    "/pbx/hangup",
    summary="End a call",
    openapi_extra=_body_schema({"sessionId": {"type": "string", "format": "uuid"}}, ["sessionId"]),
    responses=KEYED_ERRORS,
)
async def hangup(
    request: Request, account: Account, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    body = await json_object(request)
    session_id = body.get("sessionId")
    if session_id is None:
        raise ApiError(400, "sessionId is required")
    if not isinstance(session_id, str) or not is_session_id(session_id):
        raise ApiError(400, "sessionId must be a session id as returned by POST /pbx/call")
    key = request_key(idempotency_key, body)
    return await context(request).requests.hangup(account, session_id, key)


@router.post(
    "/pbx/transfer",
    summary="Blind-transfer an answered SIP call (REFER); progress comes as transferStatus",
    openapi_extra=_body_schema(
        {
            "sessionId": {"type": "string", "format": "uuid"},
            "target": {"type": "string", "example": "0215550100"},
            "mode": {"type": "string", "enum": list(MODES)},
        },
        ["sessionId", "target", "mode"],
    ),
)
async def transfer(request: Request, account: Account) -> JSONResponse:
    body = await json_object(request)
    session_id = body.get("sessionId")
    if session_id is None:
        raise ApiError(400, "sessionId is required")
    if not isinstance(session_id, str) or not is_session_id(session_id):
        raise ApiError(400, "sessionId must be a session id as returned by POST /pbx/call")
    try:
        context(request).calls.transfer(account, session_id, body.get("target"), body.get("mode"))
    except CallNotFound:
        raise ApiError(
            404, f"No live call with sessionId {session_id}: unknown or already ended"
        ) from None
    except TransferError as exc:
        raise ApiError(exc.status, exc.message) from None
    return ok({"sessionId": session_id, "target": body["target"], "mode": body["mode"]})


@router.get("/v1/cdr", summary="List call detail records (paginated, filtered, sorted)")
async def list_cdrs(request: Request, account: Account) -> JSONResponse:
    api = context(request)
    params = list(request.query_params.multi_items())
    try:
        query = parse_cdr_query(
            account,
            params,
            default_limit=api.cdr_default_limit,
            max_limit=api.cdr_max_limit,
        )
    except CdrQueryError as exc:
        raise ApiError(400, str(exc)) from None
    async with api.cdr_queries.slot(account):
        page = await run_listing(api.history, query)
    return JSONResponse(cdr_page_response(query, page, request.url.path, params))


@router.get("/v1/cdr/{sessionId}", summary="One call detail record")
async def get_cdr(request: Request, sessionId: str, account: Account) -> JSONResponse:
    api = context(request)
    try:
        record: CallRecord | None = api.calls.find(account, sessionId).record
    except CallNotFound:
        record = None
    if record is None and is_session_id(sessionId):
        try:
            record = await api.history.get(account, sessionId)
        except StoreBusy:
            raise ApiError(503, BUSY, {"Retry-After": "1"}) from None
    if record is None:
        raise ApiError(404, f"No call detail record with sessionId {sessionId}")
    return ok(record.to_json())


@router.get("/v1/recordings/{sessionId}", summary="A recorded call's audio (stereo WAV)")
async def get_recording(request: Request, sessionId: str, account: Account) -> FileResponse:
    """The same account rules as the CDR: another account's call, like a missing one, is 404."""
    api = context(request)
    record: CallRecord | None = None
    if is_session_id(sessionId):
        try:
            record = await api.history.get(account, sessionId)
        except StoreBusy:
            raise ApiError(503, BUSY, {"Retry-After": "1"}) from None
    if record is None or not record.recorded:
        raise ApiError(404, f"No recording with sessionId {sessionId}")
    if record.is_open:
        raise ApiError(404, f"The call {sessionId} is still being recorded; fetch it once it ends")
    path = await api.recordings.finished_path(sessionId)
    if path is None:
        raise ApiError(
            404, f"No recording with sessionId {sessionId}: it is past its retention or was removed"
        )
    return FileResponse(path, media_type="audio/wav", filename=f"{sessionId}.wav")


@router.get("/v1/calls", summary="This account's live calls")
async def live_calls(request: Request, account: Account) -> JSONResponse:
    calls = context(request).calls.live(account)
    return ok(
        [
            {
                "sessionId": call.session_id,
                "type": call.record.direction,
                "destination": call.record.destination,
                "callerId": call.record.caller_id,
                "status": call.state.value,
                "startTime": iso_ms(call.record.start_time),
                "answerTime": iso_ms(call.record.answer_time),
                # dBFS of the last 20 ms each way (None before any audio, -120 for silence)
                "levels": {"heard": _level(call.heard), "said": _level(call.said)},
                "recording": call.recording is not None,  # being recorded now
            }
            for call in calls
        ]
    )


def _level(frame: bytes) -> float | None:
    if not frame:
        return None
    return round(max(-120.0, rms_dbfs(frame)), 1)


@router.get("/health", summary="Liveness and basic figures (no authentication)")
async def health(request: Request, idle: bool = False) -> JSONResponse:
    """With `?idle=1`, also `idle`: what the gateway holds now (callgate/idle.py). Opt-in, as it
    lists the process's descriptors, and a load balancer may ask for health many times a second."""
    api = context(request)
    data: dict[str, Any] = {
        "status": "ok" if api.started() else "starting",
        "nodeId": api.node_id,  # which node a balancer reached
        "liveCalls": len(list(api.calls.calls)),
        "callsDialled": api.calls.dialled,
        "databaseRefusals": api.requests.refusals.count,
    }
    if idle:
        data["idle"] = api.idle()
    return ok(data)
