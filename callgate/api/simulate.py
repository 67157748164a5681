"""The simulated carrier's controls: make a simulated caller dial one of your numbers (inbound calls).

Present only while the gateway runs on the simulated carrier. The call is routed like a real inbound
call (by its DID, to the route's application and account), whichever account's token asked for it.
The API knows no trunk: the wiring hands it the simulator (`InboundSimulator`, on the app's state as
`simulator`) when the simulated carrier runs, else None, and the route answers 404 (as documented).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from callgate.api.body import json_object
from callgate.api.envelope import ApiError, ok
from callgate.api.rest import PHONE_RE, Account
from callgate.media.dtmf import DIGIT_SET
from callgate.telephony.simulated.scripts import CallerScript

router = APIRouter()


class InboundSimulator(Protocol):
    """What the route needs of the simulated carrier: a scripted caller dialling a number."""

    def offer_inbound(self, caller_id: str, did_number: str, script: CallerScript) -> str: ...


def _number(key: str, value: Any, low: float, high: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"{key} must be a number of {unit}")
    if not low <= value <= high:
        raise ApiError(400, f"{key} must be between {low:g} and {high:g} {unit}")
    return float(value)


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"{key} must be true or false")
    return value


def _seconds(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    return None if value is None else _number(key, value, 0, 86400, "seconds")


@router.post(
    "/v1/simulate/inbound", summary="Simulated carrier: an inbound call to one of your numbers"
)
async def simulate_inbound(request: Request, account: Account) -> JSONResponse:
    carrier: InboundSimulator | None = request.app.state.simulator
    if carrier is None:
        raise ApiError(404, "Simulated inbound calls exist only on the simulated carrier")
    body = await json_object(request)
    caller_id, did_number = body.get("callerId"), body.get("didNumber")
    for key, value in (("callerId", caller_id), ("didNumber", did_number)):
        if not isinstance(value, str) or not PHONE_RE.fullmatch(value):
            raise ApiError(400, f"{key} is required: 3-20 digits with an optional leading +")
    audio = body.get("audio", "speech")
    if audio not in ("speech", "tone", "silence"):
        raise ApiError(400, "audio must be one of speech, tone, silence")
    presses = body.get("dtmf", [])
    if not isinstance(presses, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[1], str) and p[1] in DIGIT_SET
        for p in presses
    ):
        raise ApiError(400, "dtmf must be a list of [seconds, digit] pairs, digits 0-9 * # A-D")
    dtmf = tuple((_number("dtmf time", t, 0, 86400, "seconds"), d) for t, d in presses)
    script = CallerScript(
        audio=audio,
        tone_hz=_number("toneHz", body.get("toneHz", 440.0), 20, 3900, "Hz"),
        dtmf=dtmf,
        hangup_after_s=_seconds(body, "hangupAfterS"),
        give_up_s=_seconds(body, "giveUpS"),
        record=_flag(body, "record"),
    )
    assert isinstance(caller_id, str)
    assert isinstance(did_number, str)
    session_id = carrier.offer_inbound(caller_id, did_number, script)
    return ok({"sessionId": session_id, "callerId": caller_id, "didNumber": did_number})
