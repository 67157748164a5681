"""The OpenAPI document, exact: every parameter, body, status, header and payload as the API has them.

FastAPI derives paths and operation ids from the routes; this module states the rest, since the
endpoints read their own bodies and query strings (to answer in the spec's envelope) and FastAPI
cannot see them. Patterns follow the code that checks the input: `rest.PHONE_RE`,
`ids.is_session_id`, the query language of `cdr_query` (every operator, prefix and value type, and
the value limits), so that whatever the document allows is accepted and whatever it forbids is
refused. `tests/api/test_openapi.py` runs schemathesis against a live server to keep it so.
Patterns are anchored (JSON Schema's `pattern` matches anywhere otherwise).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from callgate.api import cdr_query
from callgate.api.body import MAX_BODY_BYTES, MAX_DEPTH
from callgate.api.cdr_query import FIELD_TYPES, MAX_VALUE_CHARS, METADATA_PREFIX, SORTABLE
from callgate.calls.options import (
    MAX_DURATION_S,
    MAX_METADATA_BYTES,
    MAX_SIP_HEADER_NAME_CHARS,
    MAX_SIP_HEADER_VALUE_CHARS,
    MAX_SIP_HEADERS,
    METADATA_KEY_RE,
    RING_TIMEOUT_S,
    X_HEADER_RE,
)
from callgate.calls.transfer import MAX_TARGET_CHARS
from callgate.calls.transfer import MODES as TRANSFER_MODES

Schema = dict[str, Any]

PHONE_PATTERN: Final = r"^\+?[0-9]{3,20}$"
SESSION_ID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

# --- the query language's grammar as regular expressions ----------------------------------------

# $or:/$and: and $not:, each at most once, in either order.
_PREFIX = r"(?:(?:\$or:|\$and:)(?:\$not:)?|\$not:(?:\$or:|\$and:)?)?"
_NUL = "\\u0000"
# A whole number in the columns' 32-bit range, leading zeros allowed.
_INT32 = (
    "0*(?:[0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
    "|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]"
    "|214748364[0-7])"
)
_NUMBER = f"(?:{_INT32}|-{_INT32}|-0*2147483648)"
# ISO 8601 as cdr_query.parse_time reads it: real calendar days (leap years included), years
# 0001-9999, an optional time (seconds and 1-9 fraction digits optional), an optional offset
# whose '+' may have arrived as a space.
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_QUADRENNIAL = "(?:0[48]|[2468][048]|[13579][26])"  # 04 to 96, in steps of 4
_LEAP_YEAR = f"(?:[0-9]{{2}}{_QUADRENNIAL}|{_QUADRENNIAL}00)"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_OFFSET = "(?:[Zz]|[+ -](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)"


def _time(fraction_marks: str) -> str:
    clock = f"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[{fraction_marks}][0-9]{{1,9}})?)?"
    return f"(?:{_DATE}(?:[Tt ]{clock}{_OFFSET}?)?)"


_TIME = _time(".,")
_LISTED_TIME = _time(".")  # in a $in or $btw list a comma ends the value
# What str.strip() removes around a listed value, spelled out: regex dialects disagree on \s.
_SPACES = "".join(
    f"\\u{code:04x}" for code in (*range(0x09, 0x0E), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680)
) + "".join(
    f"\\u{code:04x}" for code in (*range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
)
_SPACE = f"[{_SPACES}]"
_SOLID = f"[^,{_SPACES}{_NUL}]"  # neither a space nor a comma nor NUL
_TEXT_ITEM_CORE = f"{_SOLID}(?:[^,{_NUL}]{{0,{MAX_VALUE_CHARS - 2}}}{_SOLID})?"
_DECIMAL = "-?[0-9]{1,12}(?:\\.[0-9]{1,6})?"  # as cdr_query reads mos, lossPercent, rxJitterMs
_VALUE: Final = {
    "number": _NUMBER,
    "decimal": _DECIMAL,
    "time": _TIME,
    "text": f"[^{_NUL}]{{1,{MAX_VALUE_CHARS}}}",
}
_ITEM: Final = {
    "number": f"{_SPACE}*{_NUMBER}{_SPACE}*",
    "decimal": f"{_SPACE}*{_DECIMAL}{_SPACE}*",
    "time": f"{_SPACE}*{_LISTED_TIME}{_SPACE}*",
    "text": f"{_SPACE}*{_TEXT_ITEM_CORE}{_SPACE}*",
}
# A value given without an operator must not itself read as one: `$` and letters, then a colon
# or the end, would be taken for an operator or a prefix.
_BARE_TEXT = (
    f"(?:[^${_NUL}][^{_NUL}]*|\\$|\\$[^A-Za-z{_NUL}][^{_NUL}]*"
    f"|\\$[A-Za-z]+[^A-Za-z:{_NUL}][^{_NUL}]*)"
)

_SINGLE_OPS: Final = {
    "number": ("eq", "gt", "gte", "lt", "lte"),
    "decimal": ("eq", "gt", "gte", "lt", "lte"),
    "time": ("eq", "gt", "gte", "lt", "lte"),
    "text": ("eq", "gt", "gte", "lt", "lte", "ilike", "sw", "contains"),
}


def filter_schema(kind: str) -> Schema:
    """The schema of one `filter.<field>` value for a field of this type."""
    value, item = _VALUE[kind], _ITEM[kind]
    single = "|".join(_SINGLE_OPS[kind])
    forms = [
        f"^{_PREFIX}\\$(?:{single}):{value}$",
        f"^{_PREFIX}\\$in:{item}(?:,{item}){{0,{cdr_query.MAX_LIST_VALUES - 1}}}$",
        f"^{_PREFIX}\\$btw:{item},{item}$",
        f"^{_PREFIX}\\$null:?$",
    ]
    if kind == "text":
        # Without an operator: $eq on a value that does not start like one; its length is the
        # value's, so each prefix gets its own bound.
        prefixes = [
            "",
            "$or:",
            "$and:",
            "$not:",
            "$or:$not:",
            "$and:$not:",
            "$not:$or:",
            "$not:$and:",
        ]
        bare = [
            {
                "pattern": f"^{_escape(prefix)}{_BARE_TEXT}$",
                "maxLength": len(prefix) + MAX_VALUE_CHARS,
            }
            for prefix in prefixes
        ]
        return {"type": "string", "anyOf": [{"pattern": form} for form in forms] + bare}
    forms.append(f"^{_PREFIX}{value}$")
    return {"type": "string", "anyOf": [{"pattern": form} for form in forms]}


def _escape(prefix: str) -> str:
    return prefix.replace("$", "\\$")


# --- the payloads ----------------------------------------------------------------------------------


def _envelope(data: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["status", "errors", "data"],
        "properties": {
            "status": {"type": "integer", "const": 200},
            "errors": {"type": "string", "const": ""},
            "data": data,
        },
    }


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


_TIME_OUT: Final = {"type": "string", "format": "date-time", "example": "2025-07-23T03:37:56.000Z"}
CDR_SCHEMA: Final = {
    "type": "object",
    "required": [
        "sessionId",
        "destination",
        "startTime",
        "answerTime",
        "endTime",
        "duration",
        "billableSeconds",
        "disposition",
        "hangupBy",
        "hangupCauseCode",
        "hangupCauseText",
        "createdAt",
        "updatedAt",
    ],
    "properties": {
        "sessionId": {"type": "string", "pattern": SESSION_ID_PATTERN},
        "destination": {"type": "string"},
        "startTime": _TIME_OUT,
        "answerTime": _nullable(_TIME_OUT),
        "endTime": _nullable(_TIME_OUT),
        "duration": {"type": "integer", "minimum": 0},
        "billableSeconds": {"type": "integer", "minimum": 0},
        "disposition": _nullable(
            {"type": "string", "enum": ["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCEL"]}
        ),
        "hangupBy": _nullable({"type": "string", "enum": ["CALLER", "CALLEE"]}),
        "hangupCauseCode": _nullable({"type": "integer"}),
        "hangupCauseText": _nullable({"type": "string"}),
        "createdAt": _TIME_OUT,
        "updatedAt": _TIME_OUT,
        "direction": {"type": "string", "enum": ["outbound", "inbound"]},
        "callerId": _nullable({"type": "string"}),
        # Media quality (callgate/calls/quality.py): null while live or without media.
        "rxPackets": _nullable({"type": "integer", "minimum": 0}),
        "rxLost": _nullable({"type": "integer"}),
        "rxLate": _nullable({"type": "integer", "minimum": 0}),
        "rxConcealed": _nullable({"type": "integer", "minimum": 0}),
        "rxJitterMs": _nullable({"type": "number", "minimum": 0}),
        "rxUnderruns": _nullable({"type": "integer", "minimum": 0}),
        "txPackets": _nullable({"type": "integer", "minimum": 0}),
        "lossPercent": _nullable({"type": "number"}),
        "mos": _nullable({"type": "number", "minimum": 1, "maximum": 4.5}),
        "clientFramesDropped": {"type": "integer", "minimum": 0},
        "recorded": {
            "type": "boolean",
            "description": "The call was recorded: GET /v1/recordings/{sessionId} serves it "
            "(until recording_retention_days)",
        },
        "machineDetection": {
            "type": "string",
            "enum": ["human", "machine", "fax", "unknown"],
            "description": "Answering-machine detection's result; present only for calls "
            "placed with machineDetection (docs/listen.md)",
        },
        "metadata": {
            "type": "object",
            "description": "The call's metadata (POST /pbx/call's; an inbound route's and the "
            "INVITE's X- headers); present only for calls that carry some",
        },
        "transferredTo": {
            "type": "string",
            "description": "Where a blind transfer that succeeded sent the call (the target as "
            "given to POST /pbx/transfer); present only for transferred calls",
        },
    },
}
# POST /pbx/call's per-call options (callgate/calls/options.py), all optional.
# The schemas say exactly what is accepted: a schema-valid body is never refused with 400.
CALL_OPTION_SCHEMAS: Final[dict[str, Any]] = {
    "ringTimeoutS": {
        "type": "number",
        "minimum": RING_TIMEOUT_S[0],
        "maximum": RING_TIMEOUT_S[1],
        "description": "Seconds from dialling to give up unanswered (cause 19, NO ANSWER)",
    },
    "maxDurationS": {
        "type": "number",
        "minimum": MAX_DURATION_S[0],
        "maximum": MAX_DURATION_S[1],
        "description": "Seconds after the answer the gateway hangs up (cause 16, hangupBy null)",
    },
    "metadata": {
        "type": "object",
        "propertyNames": {"pattern": f"^{METADATA_KEY_RE.pattern}$"},
        "description": f"Echoed in newSession, dialStatus, hangup and the CDR; at most"
        f" {MAX_METADATA_BYTES} bytes as compact UTF-8 JSON",
    },
    "sipHeaders": {
        "type": "object",
        "maxProperties": MAX_SIP_HEADERS,
        "propertyNames": {
            "pattern": f"^{X_HEADER_RE.pattern}$",
            "maxLength": MAX_SIP_HEADER_NAME_CHARS,
        },
        "additionalProperties": {
            "type": "string",
            "maxLength": MAX_SIP_HEADER_VALUE_CHARS,
            "pattern": "^[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$",
        },
        "description": "X- headers sent on the INVITE (names unique ignoring case)",
    },
}
CALLER_ID_TEXT: Final = (
    "callerId: the From user of the INVITE, one of the caller IDs configured for the account"
    " ([accounts.<name>] caller_ids); any other is refused with 400."
)


def call_option_schemas(caller_ids: frozenset[str]) -> dict[str, Any]:
    """The options' schemas; `callerId` as the configured caller IDs (all accounts'), and left
    out when none are configured, as then no value is accepted."""
    if not caller_ids:
        return dict(CALL_OPTION_SCHEMAS)
    caller = {"type": "string", "enum": sorted(caller_ids), "description": CALLER_ID_TEXT}
    return {"callerId": caller, **CALL_OPTION_SCHEMAS}


_LINK: Final = {"type": "string"}
CDR_PAGE_SCHEMA: Final = {
    "type": "object",
    "required": ["data", "meta", "links"],
    "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Cdr"}},
        "meta": {
            "type": "object",
            "required": ["itemsPerPage", "totalItems", "currentPage", "totalPages", "sortBy"],
            "properties": {
                "itemsPerPage": {"type": "integer", "minimum": 1},
                "totalItems": {"type": "integer", "minimum": 0},
                "currentPage": {"type": "integer", "minimum": 1},
                "totalPages": {"type": "integer", "minimum": 0},
                "sortBy": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [
                            {"type": "string", "enum": list(SORTABLE)},
                            {"type": "string", "enum": ["ASC", "DESC"]},
                        ],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
                "filter": {
                    "type": "object",
                    "additionalProperties": {
                        "anyOf": [
                            {"type": "string"},
                            {"type": "array", "items": {"type": "string"}},
                        ]
                    },
                },
            },
        },
        "links": {
            "type": "object",
            "required": ["current"],
            "properties": dict.fromkeys(("first", "previous", "current", "next", "last"), _LINK),
        },
    },
}
ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["status", "errors", "data"],
    "properties": {
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "errors": {"type": "string", "minLength": 1, "description": "what to do about it"},
        "data": {"type": "null"},
    },
}
_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "Whole seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
_WWW_AUTHENTICATE: Final = {
    "WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}}
}


def _error(description: str, headers: dict[str, Any] | None = None) -> Schema:
    response: Schema = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _ok(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_UNAUTHORIZED: Final = _error(
    "The token is missing, malformed, expired, not yet valid or wrongly signed; the message says "
    "which",
    _WWW_AUTHENTICATE,
)
_BODY_ERRORS: Final = {
    "400": _error(
        f"The body is not a JSON object in UTF-8, is nested more than {MAX_DEPTH} levels, or a "
        "field is missing or invalid; the message names it"
    ),
    "401": _UNAUTHORIZED,
    "413": _error(f"The body is larger than {MAX_BODY_BYTES} bytes"),
    "415": _error("The Content-Type is not application/json (UTF-8)"),
}


_IDEMPOTENCY_KEY: Final = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry safely: the same key and body within 24 h get the first answer again "
    "(same sessionId, header Idempotent-Replayed: true) and nothing is done twice; the same key "
    "with another body is refused with 409. Per account and endpoint, kept across restarts.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}
_KEYED_ERRORS: Final = {
    "409": _error("The Idempotency-Key was already used with a different body"),
    "503": _error(
        "The database did not answer in time (or refused): nothing was done", _RETRY_AFTER
    ),
}


def _keyed(ok: Schema) -> Schema:
    """A 200 that may be a replay of the first answer to the same key."""
    return {
        **ok,
        "headers": {
            "Idempotent-Replayed": {
                "description": "true when this is the first answer to the same key, again",
                "required": False,
                "schema": {"type": "string", "const": "true"},
            }
        },
    }


def _json_body(properties: Schema, required: list[str], description: str = "") -> Schema:
    return {
        **({"description": description} if description else {}),
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": properties, "required": required}
            }
        },
    }


def _cdr_parameters() -> list[Schema]:
    params: list[Schema] = [
        {
            "name": "page",
            "in": "query",
            "description": "Page number, from 1",
            "schema": {"type": "integer", "minimum": 1, "maximum": cdr_query.MAX_PAGE},
        },
        {
            "name": "limit",
            "in": "query",
            "description": "Records per page (default 100; above 1000 it is 1000)",
            "schema": {"type": "integer", "minimum": 1},
        },
        {
            "name": "sortBy",
            "in": "query",
            "description": "field:ASC or field:DESC (either case); repeatable, each field once",
            "schema": {
                "type": "string",
                "pattern": f"^(?:{'|'.join(SORTABLE)}):(?:[Aa][Ss][Cc]|[Dd][Ee][Ss][Cc])$",
            },
        },
    ]
    for field, kind in FIELD_TYPES.items():
        params.append(
            {
                "name": f"filter.{field}",
                "in": "query",
                "description": (
                    f"[$or:|$and:][$not:][$op:]value on {field} (a {kind}); see the README's CDR "
                    "queries. Repeatable."
                ),
                "schema": filter_schema(kind),
            }
        )
    return params


def _operations(caller_ids: frozenset[str] = frozenset()) -> dict[tuple[str, str], Schema]:
    """What each operation takes and answers, by (method, path)."""
    sid_path = {
        "name": "sessionId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    }
    return {
        ("post", "/pbx/call"): {
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _json_body(
                {
                    "phoneNumber": {
                        "type": "string",
                        "pattern": PHONE_PATTERN,
                        "example": "089608675796",
                    },
                    "record": {
                        "type": "boolean",
                        "description": "Record the call from its answer (stereo WAV: caller left, "
                        "callee right); absent: the gateway's record_calls setting",
                    },
                    **call_option_schemas(caller_ids),
                },
                ["phoneNumber"],
                CALLER_ID_TEXT,
            ),
            "responses": {
                "200": _keyed(
                    _ok(
                        "The call is recorded and placed",
                        _envelope(
                            {
                                "type": "object",
                                "required": ["phoneNumber", "sessionId"],
                                "properties": {
                                    "phoneNumber": {"type": "string"},
                                    "sessionId": {"type": "string", "pattern": SESSION_ID_PATTERN},
                                },
                            }
                        ),
                    )
                ),
                **_BODY_ERRORS,
                "429": _error("Too many concurrent calls or calls per second", _RETRY_AFTER),
                **_KEYED_ERRORS,
                "503": _error(
                    "The call could not be recorded in time, so it was not placed", _RETRY_AFTER
                ),
            },
        },
        ("post", "/pbx/hangup"): {
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _json_body(
                {"sessionId": {"type": "string", "pattern": SESSION_ID_PATTERN}}, ["sessionId"]
            ),
            "responses": {
                "200": _keyed(
                    _ok(
                        "The call is ending",
                        _envelope(
                            {
                                "type": "object",
                                "required": ["sessionId"],
                                "properties": {"sessionId": {"type": "string"}},
                            }
                        ),
                    )
                ),
                **_BODY_ERRORS,
                "404": _error("No live call of this account has this id"),
                **_KEYED_ERRORS,
            },
        },
        ("post", "/pbx/transfer"): {
            "requestBody": _json_body(
                {
                    "sessionId": {"type": "string", "pattern": SESSION_ID_PATTERN},
                    "target": {
                        "type": "string",
                        "maxLength": MAX_TARGET_CHARS,
                        # What the request check takes; a number or sip: URI that cannot be
                        # addressed is refused (400) only once the call is found.
                        "pattern": "\\S",
                        "description": "A phone number (digits, *, #, a leading +) at the "
                        "trunk's domain, or a sip:/sips: URI without ?headers",
                        "example": "0215550100",
                    },
                    "mode": {"type": "string", "enum": list(TRANSFER_MODES)},
                },
                ["sessionId", "target", "mode"],
            ),
            "responses": {
                "200": _ok(
                    "The REFER is sent; transferStatus events follow on the call's room",
                    _envelope(
                        {
                            "type": "object",
                            "required": ["sessionId", "target", "mode"],
                            "properties": {
                                "sessionId": {"type": "string"},
                                "target": {"type": "string"},
                                "mode": {"type": "string", "enum": list(TRANSFER_MODES)},
                            },
                        }
                    ),
                ),
                **_BODY_ERRORS,
                "404": _error("No live call of this account has this id"),
                "409": _error(
                    "The call cannot be transferred now: it is not on a SIP trunk (the simulated"
                    " carrier), not answered yet, or a transfer of it is already in progress"
                ),
            },
        },
        ("get", "/v1/cdr"): {
            # A parameter whose name holds the key cannot be a fixed parameter: said in words.
            "description": f"Also `filter.{METADATA_PREFIX}<key>=[$op:]value`: the string value"
            " of one top-level key of the call's metadata, as text (a key that is absent or not a"
            " string is null; keys are [A-Za-z0-9_-]{1,64}).",
            "parameters": _cdr_parameters(),
            "responses": {
                "200": _ok(
                    "A page of records (not enveloped, as the spec shows)",
                    {"$ref": "#/components/schemas/CdrPage"},
                ),
                "400": _error("A parameter is wrong; the message names it and what to send"),
                "401": _UNAUTHORIZED,
                "429": _error("This account already runs its share of queries", _RETRY_AFTER),
                "503": _error(
                    "The query ran past its database-time budget (narrow it), or every query "
                    "slot is busy (then with Retry-After)"
                ),
            },
        },
        ("get", "/v1/cdr/{sessionId}"): {
            "parameters": [sid_path],
            "responses": {
                "200": _ok("The record", _envelope({"$ref": "#/components/schemas/Cdr"})),
                "401": _UNAUTHORIZED,
                "404": _error("No record of this account has this id"),
                "503": _error("The database is busy", _RETRY_AFTER),
            },
        },
        ("get", "/v1/recordings/{sessionId}"): {
            "parameters": [sid_path],
            "responses": {
                "200": {
                    "description": "The call's recording: 16-bit PCM stereo WAV at 8 kHz, the "
                    "caller on the left channel and the callee on the right",
                    "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
                },
                "401": _UNAUTHORIZED,
                "404": _error(
                    "No finished recording of this account's has this id (not recorded, still "
                    "live, past retention, or another account's call)"
                ),
                "503": _error("The database is busy", _RETRY_AFTER),
            },
        },
        ("get", "/v1/calls"): {
            "responses": {
                "200": _ok(
                    "The account's live calls",
                    _envelope(
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": [
                                    "sessionId",
                                    "type",
                                    "destination",
                                    "callerId",
                                    "status",
                                    "startTime",
                                    "answerTime",
                                    "levels",
                                ],
                                "properties": {
                                    "sessionId": {"type": "string"},
                                    "type": {"type": "string", "enum": ["outbound", "inbound"]},
                                    "destination": {"type": "string"},
                                    "callerId": _nullable({"type": "string"}),
                                    "status": {"type": "string"},
                                    "startTime": _TIME_OUT,
                                    "answerTime": _nullable(_TIME_OUT),
                                    "recording": {
                                        "type": "boolean",
                                        "description": "The call is being recorded now",
                                    },
                                    "levels": {
                                        "type": "object",
                                        "description": "dBFS of the last 20 ms heard from and "
                                        "said to the far party (null before any audio; -120 is "
                                        "silence)",
                                        "required": ["heard", "said"],
                                        "properties": {
                                            "heard": _nullable({"type": "number"}),
                                            "said": _nullable({"type": "number"}),
                                        },
                                    },
                                },
                            },
                        }
                    ),
                ),
                "401": _UNAUTHORIZED,
            },
        },
        ("get", "/health"): {
            "security": [],
            "responses": {
                "200": _ok(
                    "Alive",
                    _envelope(
                        {
                            "type": "object",
                            "required": ["status", "liveCalls"],
                            "properties": {
                                "status": {"type": "string", "enum": ["ok", "starting"]},
                                "liveCalls": {"type": "integer", "minimum": 0},
                            },
                        }
                    ),
                )
            },
        },
        ("post", "/v1/simulate/inbound"): {
            "requestBody": _json_body(
                {
                    "callerId": {"type": "string", "pattern": PHONE_PATTERN},
                    "didNumber": {"type": "string", "pattern": PHONE_PATTERN},
                    "audio": {"type": "string", "enum": ["speech", "tone", "silence"]},
                    "toneHz": {"type": "number", "minimum": 20, "maximum": 3900},
                    "dtmf": {
                        "type": "array",
                        "description": "[seconds after the answer, digit] pairs",
                        "items": {
                            "type": "array",
                            "prefixItems": [
                                {"type": "number", "minimum": 0, "maximum": 86400},
                                {"type": "string", "pattern": "^[0-9*#A-D]$"},
                            ],
                            "minItems": 2,
                            "maxItems": 2,
                        },
                    },
                    "hangupAfterS": _nullable({"type": "number", "minimum": 0, "maximum": 86400}),
                    "giveUpS": _nullable({"type": "number", "minimum": 0, "maximum": 86400}),
                    "record": {"type": "boolean"},
                },
                ["callerId", "didNumber"],
            ),
            "responses": {
                "200": _ok(
                    "The simulated caller dials",
                    _envelope(
                        {
                            "type": "object",
                            "required": ["sessionId", "callerId", "didNumber"],
                            "properties": {
                                "sessionId": {"type": "string"},
                                "callerId": {"type": "string"},
                                "didNumber": {"type": "string"},
                            },
                        }
                    ),
                ),
                **_BODY_ERRORS,
                "404": _error("The gateway does not run on the simulated carrier"),
            },
        },
    }


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document for `app`, built once."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    api = getattr(app.state, "api", None)  # the gateway's ApiContext, when wired
    caller_ids = frozenset().union(*api.caller_ids.values()) if api is not None else frozenset()
    for (method, path), spec in _operations(caller_ids).items():
        operation = document["paths"].get(path, {}).get(method)
        if operation is None:
            continue  # e.g. the simulator's route on a SIP trunk
        operation.pop("parameters", None)
        operation.pop("requestBody", None)
        operation.update(spec)
    document["components"] = {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "callgate token create --account NAME",
            }
        },
        "schemas": {"Error": ERROR_SCHEMA, "Cdr": CDR_SCHEMA, "CdrPage": CDR_PAGE_SCHEMA},
    }
    document["security"] = [{"bearerAuth": []}]
    app.openapi_schema = document
    return document
