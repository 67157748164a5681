"""The query language of `GET /v1/cdr` (nestjs-paginate's) parsed into a CdrQuery, and the page it returns.

Parameters:
- `page`: 1 or more (default 1). A page past the last returns no rows, and `meta.currentPage`
  and the links then name the last page, as nestjs-paginate does.
- `limit`: 1 or more (default `default_limit`, 100). Above `max_limit` (1000) it is clamped to
  `max_limit`, as nestjs-paginate does; `meta.itemsPerPage` and the links show the limit applied.
  nestjs-paginate's special limits (0: count only, -1: no paging) are not offered and are rejected.
- `sortBy=field:ASC|DESC`, repeatable, applied in order (default `id:DESC`, newest first). Any CDR
  field or `id`; the direction may be given in any case. Ties are broken by `id`. NULL sorts
  before every value ascending and after every value descending.
- `filter.<field>=[$or:][$not:][$op:]value`, repeatable, also on one field. Without an operator
  the value is compared with `$eq`. Operators:
  `$eq` equal; `$in:a,b,c` any of; `$gt` `$gte` `$lt` `$lte` comparisons; `$btw:a,b` between,
  both ends included; `$null` is NULL (takes no value); text only: `$ilike` contains, ignoring
  case; `$sw` starts with, ignoring case; `$contains` contains, case sensitive. Values are literal
  (no wildcards). `$not:` negates the term, with SQL's meaning: a negated term never matches a
  NULL field (`$not:$null` asks for present values).
  `$or:` joins a term to the one before it on the same field with OR instead of AND (AND binds
  tighter: `filter.duration=$lt:10&filter.duration=$gt:5&filter.duration=$or:$gte:60` is
  `(duration < 10 AND duration > 5) OR duration >= 60`); fields whose first term carries `$or`
  are OR-ed together: `filter.disposition=$or:BUSY&filter.hangupCauseCode=$or:17`. `$and:` is
  accepted and is the default. These are nestjs-paginate's multi-filters (its 8.x to 12.x
  releases, which the spec's clients target); its newer `filter=` expression language is not
  offered, and `filter=` is rejected.
- `filter.metadata.<key>=[$op:]value` filters on one top-level key of the call's metadata, as text:
  the key's string value (a key that is absent or holds a number, boolean, object or null is
  NULL: `$null` finds those). Every text operator applies. Not sortable.
- Values are typed by field: whole numbers for duration, billableSeconds, hangupCauseCode and the
  quality counts (rxPackets, rxLost, ...); decimals (`3.5`) for mos, lossPercent and rxJitterMs;
  ISO 8601 for times (`2025-07-23`, `2025-07-23T03:37:56Z`, `...56.123+07:00`; a date alone is
  midnight UTC, a time without an offset is UTC, and an offset whose `+` arrived as a space, as an
  unencoded `+` in a query string does, is read as `+`), within 0001-01-01 to 9999-12-31 once
  moved to UTC; text otherwise, without the NUL character. Comparing text is by byte (code
  point) order.

Errors: an unknown field, operator or direction, a value of the wrong type, an operator that does
not apply to the field's type, or a repeated `page`/`limit` raise `CdrQueryError`, whose message
names the parameter and says what to send. Other parameters are ignored, as nestjs-paginate
ignores what it does not know, except `filter`, `search`, `searchBy` and `cursor`: ignoring
those would silently return unfiltered or differently paged rows, so they are rejected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, Literal, cast
from urllib.parse import quote

from callgate.api.envelope import ApiError
from callgate.api.limits import BUSY
from callgate.calls.history import CallHistory
from callgate.calls.options import METADATA_KEY_RE
from callgate.calls.recordstore import (
    CdrPage,
    CdrQuery,
    Condition,
    FilterOp,
    FilterValue,
    QueryTooCostly,
    SortDir,
    StoreBusy,
)

FieldType = Literal["number", "decimal", "time", "text"]

# The CDR's API fields (the spec's names) and the type of value each compares with.
FIELD_TYPES: Final[dict[str, FieldType]] = {
    "sessionId": "text",
    "destination": "text",
    "startTime": "time",
    "answerTime": "time",
    "endTime": "time",
    "duration": "number",
    "billableSeconds": "number",
    "disposition": "text",
    "hangupBy": "text",
    "hangupCauseCode": "number",
    "hangupCauseText": "text",
    "createdAt": "time",
    "updatedAt": "time",
    "direction": "text",
    "callerId": "text",
    # Media quality (callgate/calls/quality.py): null while a call is live or had no media.
    "rxPackets": "number",
    "rxLost": "number",
    "rxLate": "number",
    "rxConcealed": "number",
    "rxJitterMs": "decimal",
    "rxUnderruns": "number",
    "txPackets": "number",
    "lossPercent": "decimal",
    "mos": "decimal",
    "clientFramesDropped": "number",
    # Answering-machine detection (docs/listen.md): null unless the call asked for it.
    "machineDetection": "text",
    # A blind transfer that succeeded (POST /pbx/transfer): null for every other call.
    "transferredTo": "text",
}
SORTABLE: Final[tuple[str, ...]] = ("id", *FIELD_TYPES)
# filter.metadata.<key>: the string value of one top-level key of the call's metadata.
METADATA_PREFIX: Final = "metadata."
OPERATORS: Final[tuple[FilterOp, ...]] = (
    "$eq",
    "$null",
    "$in",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$btw",
    "$ilike",
    "$sw",
    "$contains",
)
TEXT_OPERATORS: Final = frozenset({"$ilike", "$sw", "$contains"})
NOT, OR, AND = "$not", "$or", "$and"
DEFAULT_SORT: Final[tuple[tuple[str, SortDir], ...]] = (("id", "DESC"),)
REJECTED_PARAMS: Final[dict[str, str]] = {
    "filter": "filter expressions (filter=...) are not supported; use filter.<field>=$op:value",
    "search": "full-text search is not supported; use filter.<field>=$ilike:text",
    "searchBy": "full-text search is not supported; use filter.<field>=$ilike:text",
    "cursor": "cursor paging is not supported; use page and limit",
}
# Bounds on one request, so a query string cannot make an arbitrarily large statement.
# A listing's cost grows with its terms, values and substring searches (a `$not:$ilike` reads
# every row of the account): these bound it before the database is asked; the store's time budget
# bounds what is left.
MAX_FILTER_TERMS: Final = 64
MAX_LIST_VALUES: Final = 1000  # in all the $in and $btw lists of a request together
MAX_SUBSTRING_TERMS: Final = 8
MAX_VALUE_CHARS: Final = 100  # a CDR's text fields are far shorter (numbers, ids, cause texts)
MAX_PAGE: Final = 10_000_000
MAX_SHOWN: Final = 60  # characters of the client's input an error message repeats
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # the columns are 32-bit integers

_OPERATOR_LIKE = re.compile(r"\$[A-Za-z]+")
_WHOLE = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,6})?")
_ISO_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"(?:[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<offset>[Zz]|[+ -][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_EXAMPLE_TIME = "2025-07-23 or 2025-07-23T03:37:56.000Z"
TIME_RANGE: Final = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"


class CdrQueryError(ValueError):
    """The client's query is wrong; the message names the parameter and what to send instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_cdr_query(
    account: str,
    params: Sequence[tuple[str, str]],
    *,
    default_limit: int = 100,
    max_limit: int = 1000,
) -> CdrQuery:
    """The CdrQuery for these query parameters (decoded name/value pairs, in request order)."""
    page: int | None = None
    limit: int | None = None
    sort: list[tuple[str, SortDir]] = []
    conditions: list[Condition] = []
    for name, value in params:
        if name == "page":
            page = _single(name, page, _whole_param(name, value, maximum=MAX_PAGE))
        elif name == "limit":
            limit = _single(name, limit, _whole_param(name, value, maximum=None))
        elif name == "sortBy":
            sort.append(_sort_term(value, sort))
        elif name.startswith("filter."):
            condition = _filter_term(name.removeprefix("filter."), value)
            conditions.append(condition)
            if len(conditions) > MAX_FILTER_TERMS:
                raise CdrQueryError(f"too many filters: at most {MAX_FILTER_TERMS} per request")
            _within_allowance(name, condition, conditions)
        elif name in REJECTED_PARAMS:
            raise CdrQueryError(f"{name}: {REJECTED_PARAMS[name]}")
    return CdrQuery(
        account=account,
        conditions=tuple(conditions),
        sort=tuple(sort) or DEFAULT_SORT,
        page=page or 1,
        limit=min(limit or default_limit, max_limit),
    )


async def run_listing(history: CallHistory, query: CdrQuery) -> CdrPage:
    """The page for `query`; a listing stopped by its budget, or no free connection, is 503."""
    try:
        return await history.query(query)
    except QueryTooCostly as exc:
        raise ApiError(
            503,
            f"This CDR query needed more than {exc.budget_s:g} s of database time and was "
            "stopped; narrow it (fewer substring filters, a time range with filter.startTime) "
            "and retry",
        ) from None
    except StoreBusy:
        raise ApiError(503, BUSY, {"Retry-After": "1"}) from None


def _within_allowance(param: str, condition: Condition, conditions: Sequence[Condition]) -> None:
    if condition.op in TEXT_OPERATORS and (
        sum(c.op in TEXT_OPERATORS for c in conditions) > MAX_SUBSTRING_TERMS
    ):
        raise CdrQueryError(
            f"{param}: too many substring filters ($ilike, $contains, $sw): at most "
            f"{MAX_SUBSTRING_TERMS} per request"
        )
    if condition.op in ("$in", "$btw") and (
        sum(len(c.values) for c in conditions if c.op in ("$in", "$btw")) > MAX_LIST_VALUES
    ):
        raise CdrQueryError(
            f"{param}: too many values: at most {MAX_LIST_VALUES} in all the $in and $btw lists "
            "of a request"
        )


def cdr_page_response(
    query: CdrQuery, page: CdrPage, path: str, raw_params: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """The `GET /v1/cdr` body in nestjs-paginate's shape: `{data, meta, links}`.

    `meta.filter` (present only when filters were given) holds each field's filter strings as
    sent: a string, or a list when the field was filtered more than once. Links are relative,
    carry the limit and sort applied and the filters as sent; `first` and `previous` are left out
    on the first page, `next` and `last` on the last one, as nestjs-paginate does.
    """
    total_pages = -(-page.total // query.limit)
    current = max(1, min(query.page, total_pages))
    filters = raw_filters(raw_params)
    meta: dict[str, Any] = {
        "itemsPerPage": query.limit,
        "totalItems": page.total,
        "currentPage": current,
        "totalPages": total_pages,
        "sortBy": [[field, direction] for field, direction in query.sort],
    }
    if filters:
        meta["filter"] = {
            f: values[0] if len(values) == 1 else values for f, values in filters.items()
        }

    options = f"&limit={query.limit}"
    options += "".join(f"&sortBy={field}:{direction}" for field, direction in query.sort)
    options += "".join(
        f"&filter.{field}={_encode(value)}" for field, values in filters.items() for value in values
    )

    def link(number: int) -> str:
        return f"{path}?page={number}{options}"

    links: dict[str, str] = {}
    if current > 1:
        links["first"] = link(1)
        links["previous"] = link(current - 1)
    links["current"] = link(current)
    if current < total_pages:
        links["next"] = link(current + 1)
        links["last"] = link(total_pages)
    return {"data": [record.to_json() for record in page.records], "meta": meta, "links": links}


def raw_filters(params: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The filter strings as sent, by field, fields in order of first appearance."""
    filters: dict[str, list[str]] = {}
    for name, value in params:
        if name.startswith("filter."):
            filters.setdefault(name.removeprefix("filter."), []).append(value)
    return filters


def _shown(text: str) -> str:
    """The client's input quoted for a message, cut short when long."""
    return repr(text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "...")


def _encode(value: str) -> str:
    # Keep the operator syntax readable; escape what a query string would mangle (&, #, +, %, space).
    return quote(value, safe="$:,")


def _single(name: str, previous: int | None, value: int) -> int:
    if previous is not None:
        raise CdrQueryError(f"{name}: given more than once; send it once")
    return value


def _whole(text: str) -> int | None:
    """The integer `text` spells, or None; beyond 18 digits, a number out of every range here."""
    if not _WHOLE.fullmatch(text):
        return None
    digits = text.removeprefix("-").lstrip("0") or "0"  # leading zeros change no number
    # Also keeps int() away from thousands of digits, which Python refuses with a ValueError.
    number = int(digits) if len(digits) <= 18 else 10**18
    return -number if text.startswith("-") else number


def _whole_param(name: str, value: str, *, maximum: int | None) -> int:
    number = _whole(value)
    if number is None or number < 1 or (maximum is not None and number > maximum):
        upto = f" and at most {maximum}" if maximum is not None else ""
        raise CdrQueryError(
            f"{name}: expected a whole number of at least 1{upto}, got {_shown(value)}"
        )
    return number


def _sort_term(value: str, earlier: Sequence[tuple[str, SortDir]]) -> tuple[str, SortDir]:
    field, sep, direction = value.partition(":")
    if not sep or ":" in direction:
        raise CdrQueryError(f"sortBy: expected field:ASC or field:DESC, got {_shown(value)}")
    if field not in SORTABLE:
        raise CdrQueryError(
            f"sortBy: unknown field {_shown(field)}; sortable fields: {', '.join(SORTABLE)}"
        )
    normalized = direction.upper()
    if normalized not in ("ASC", "DESC"):
        raise CdrQueryError(f"sortBy: direction must be ASC or DESC, got {_shown(direction)}")
    if any(field == seen for seen, _ in earlier):
        raise CdrQueryError(f"sortBy: {field} is given more than once")
    return field, cast(SortDir, normalized)


def _filter_term(field: str, raw: str) -> Condition:
    param = f"filter.{field}"
    kind = FIELD_TYPES.get(field)
    if field.startswith(METADATA_PREFIX):
        key = field.removeprefix(METADATA_PREFIX)
        if not METADATA_KEY_RE.fullmatch(key):
            raise CdrQueryError(
                f"{param}: a metadata key is 1 to 64 letters, digits, '_' or '-', got {_shown(key)}"
            )
        kind = "text"  # string values only: a number, object or absent key is NULL
    if kind is None:
        raise CdrQueryError(
            f"{param}: unknown field {_shown(field)}; filterable fields: {', '.join(FIELD_TYPES)}"
        )
    op: FilterOp | None = None
    negate = False
    comparator: str | None = None
    rest: str | None = raw
    # Prefixes ($or/$and, $not) in any order, then at most one operator; what follows is the value.
    while rest is not None and op is None:
        head, sep, tail = rest.partition(":")
        if not _OPERATOR_LIKE.fullmatch(head):
            break
        if head in (OR, AND):
            if comparator is not None:
                raise CdrQueryError(f"{param}: give $or or $and once, got {_shown(raw)}")
            comparator = head
        elif head == NOT:
            if negate:
                raise CdrQueryError(f"{param}: $not is given twice in {_shown(raw)}")
            negate = True
        elif head in OPERATORS:
            op = head
        else:
            raise CdrQueryError(
                f"{param}: unknown operator {_shown(head)}; operators: {', '.join(OPERATORS)}, "
                "with the prefixes $not: and $or:"
            )
        rest = tail if sep else None
    op = op or "$eq"
    if op in TEXT_OPERATORS and kind != "text":
        raise CdrQueryError(
            f"{param}: {op} applies to text fields; {field} is a {kind}, "
            "use $eq, $in, $gt, $gte, $lt, $lte, $btw or $null"
        )
    return Condition(
        field=field,
        op=op,
        values=_values(param, kind, op, rest),
        negate=negate,
        any_of=comparator == OR,
    )


def _values(param: str, kind: FieldType, op: FilterOp, text: str | None) -> tuple[FilterValue, ...]:
    if op == "$null":
        if text:
            raise CdrQueryError(
                f"{param}: $null takes no value, got {_shown(text)}; use $not:$null for 'is present'"
            )
        return ()
    if not text:
        raise CdrQueryError(f"{param}: {op} needs a value, e.g. {_example(op, kind)}")
    if op == "$in":
        items = [item.strip() for item in text.split(",")]
        if len(items) > MAX_LIST_VALUES:
            raise CdrQueryError(f"{param}: $in takes at most {MAX_LIST_VALUES} values")
        return tuple(_typed(param, kind, item) for item in items)
    if op == "$btw":
        bounds = [item.strip() for item in text.split(",")]
        if len(bounds) != 2:
            raise CdrQueryError(
                f"{param}: $btw needs two values separated by a comma, e.g. {_example(op, kind)}"
            )
        return tuple(_typed(param, kind, bound) for bound in bounds)
    return (_typed(param, kind, text),)


def _typed(param: str, kind: FieldType, text: str) -> FilterValue:
    if not text:
        raise CdrQueryError(f"{param}: empty value in a list; remove the extra comma")
    if kind == "number":
        number = _whole(text)
        if number is None:
            raise CdrQueryError(f"{param}: expected a whole number, got {_shown(text)}")
        if not INT_MIN <= number <= INT_MAX:
            raise CdrQueryError(f"{param}: {_shown(text)} is out of range")
        return number
    if kind == "decimal":
        if not _DECIMAL.fullmatch(text):
            raise CdrQueryError(f"{param}: expected a number such as 3.5, got {_shown(text)}")
        return float(text)
    if kind == "time":
        return parse_time(param, text)
    if len(text) > MAX_VALUE_CHARS:
        raise CdrQueryError(
            f"{param}: a value is at most {MAX_VALUE_CHARS} characters, got {len(text)}"
        )
    if "\x00" in text:
        # PostgreSQL text cannot hold it (the driver fails), and SQLite's LIKE ends the pattern
        # there, so `$ilike:%00` matched every row; no CDR field can contain it anyway.
        raise CdrQueryError(f"{param}: a value may not contain the NUL character")
    return text


def parse_time(param: str, text: str) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime (see the module docstring)."""
    match = _ISO_TIME.fullmatch(text)
    if match is None:
        raise CdrQueryError(
            f"{param}: expected an ISO 8601 time like {_EXAMPLE_TIME}, got {_shown(text)}"
        )
    part = match.groupdict()
    fraction = (part["fraction"] or "").ljust(6, "0")[:6]  # below a microsecond cannot matter
    try:
        value = datetime(
            int(part["year"]),
            int(part["month"]),
            int(part["day"]),
            int(part["hour"] or 0),
            int(part["minute"] or 0),
            int(part["second"] or 0),
            int(fraction),
            tzinfo=_offset(part["offset"]),
        )
    except ValueError as exc:
        raise CdrQueryError(f"{param}: {_shown(text)} is not a valid time ({exc})") from None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 at +14:00 is in year 0, 9999-12-31 at -14:00 in 10000
        raise CdrQueryError(
            f"{param}: {_shown(text)} is outside the range {TIME_RANGE} in UTC"
        ) from None


def _offset(text: str | None) -> timezone:
    if text is None or text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1  # a space is a '+' that a query string decoded
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset {text.strip()} is out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _example(op: FilterOp, kind: FieldType) -> str:
    sample = {
        "number": ("30", "30,60"),
        "decimal": ("3.5", "3.1,3.6"),
        "time": ("2025-07-23", "2025-07-01,2025-07-31"),
    }
    one, two = sample.get(kind, ("0812", "0812,0813"))
    return f"{op}:{two}" if op in ("$btw", "$in") else f"{op}:{one}"
