"""The `GET /v1/cdr` query language (nestjs-paginate's) and the response shape, without a database.

End-to-end behaviour of every operator against real rows is in tests/store/test_query_language.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callgate.api.cdr_query import (
    FIELD_TYPES,
    MAX_FILTER_TERMS,
    SORTABLE,
    CdrQueryError,
    cdr_page_response,
    parse_cdr_query,
)
from callgate.calls.records import CallRecord
from callgate.calls.recordstore import CdrPage, CdrQuery, Condition

Params = list[tuple[str, str]]


def parse(*params: tuple[str, str], **options: int) -> CdrQuery:
    return parse_cdr_query("acme", list(params), **options)


def only(query: CdrQuery) -> Condition:
    assert len(query.conditions) == 1
    return query.conditions[0]


def error(*params: tuple[str, str]) -> str:
    with pytest.raises(CdrQueryError) as caught:
        parse(*params)
    return caught.value.message


# --- paging and sorting ----------------------------------------------------------------------


def test_defaults_match_the_spec_example() -> None:
    query = parse()
    assert query == CdrQuery(
        account="acme", conditions=(), sort=(("id", "DESC"),), page=1, limit=100
    )


def test_page_and_limit() -> None:
    query = parse(("page", "3"), ("limit", "25"))
    assert (query.page, query.limit) == (3, 25)


def test_limit_above_max_is_clamped_like_nestjs_paginate() -> None:
    assert parse(("limit", "5000")).limit == 1000
    assert parse(("limit", "50"), max_limit=20).limit == 20
    assert parse(default_limit=10).limit == 10


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page", "0"),
        ("page", "-1"),
        ("page", "x"),
        ("page", "1.5"),
        ("page", ""),
        ("page", "٣"),  # a digit, but not an ASCII one
        ("page", "9" * 5000),
        ("limit", "0"),
    ],
)
def test_bad_page_or_limit_names_the_parameter(name: str, value: str) -> None:
    message = error((name, value))
    assert message.startswith(f"{name}: expected a whole number of at least 1")
    assert repr(value if len(value) < 60 else value[:57] + "...") in message


def test_page_given_twice_is_rejected() -> None:
    assert error(("page", "1"), ("page", "2")) == "page: given more than once; send it once"


def test_sort_by_several_fields_in_order_any_case() -> None:
    query = parse(("sortBy", "disposition:asc"), ("sortBy", "startTime:DESC"))
    assert query.sort == (("disposition", "ASC"), ("startTime", "DESC"))


@pytest.mark.parametrize("field", SORTABLE)
def test_every_field_and_id_is_sortable(field: str) -> None:
    assert parse(("sortBy", f"{field}:ASC")).sort == ((field, "ASC"),)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("startTime", "sortBy: expected field:ASC or field:DESC, got 'startTime'"),
        ("startTime:DESC:x", "sortBy: expected field:ASC or field:DESC, got 'startTime:DESC:x'"),
        ("startTime:UP", "sortBy: direction must be ASC or DESC, got 'UP'"),
        ("account:ASC", "sortBy: unknown field 'account'; sortable fields: id, sessionId,"),
    ],
)
def test_bad_sort_says_what_is_wrong(value: str, expected: str) -> None:
    assert error(("sortBy", value)).startswith(expected)


def test_sorting_twice_by_one_field_is_rejected() -> None:
    assert (
        error(("sortBy", "id:ASC"), ("sortBy", "id:DESC")) == "sortBy: id is given more than once"
    )


# --- filters: operators and prefixes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "op", "values"),
    [
        ("$eq:0812", "$eq", ("0812",)),
        ("0812", "$eq", ("0812",)),  # no operator: $eq, as nestjs-paginate
        ("$in:0812, 0813 ,0814", "$in", ("0812", "0813", "0814")),
        ("$gt:0812", "$gt", ("0812",)),  # text compares lexically
        ("$gte:0812", "$gte", ("0812",)),
        ("$lt:0812", "$lt", ("0812",)),
        ("$lte:0812", "$lte", ("0812",)),
        ("$btw:0812,0813", "$btw", ("0812", "0813")),
        ("$ilike:abc", "$ilike", ("abc",)),
        ("$sw:+62", "$sw", ("+62",)),
        ("$contains:0812", "$contains", ("0812",)),
        ("$null", "$null", ()),
        ("$null:", "$null", ()),
        ("$eq:a:b", "$eq", ("a:b",)),  # only the operator's colon separates
        ("$eq:$odd", "$eq", ("$odd",)),  # after the operator everything is value
        ("$contains:%_", "$contains", ("%_",)),
    ],
)
def test_each_operator_on_text(raw: str, op: str, values: tuple[str, ...]) -> None:
    assert only(parse(("filter.destination", raw))) == Condition("destination", op, values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "op", "values"),
    [
        ("30", "$eq", (30,)),
        ("$eq:-5", "$eq", (-5,)),
        ("$gt:30", "$gt", (30,)),
        ("$gte:30", "$gte", (30,)),
        ("$lt:300", "$lt", (300,)),
        ("$lte:300", "$lte", (300,)),
        ("$btw:30,60", "$btw", (30, 60)),
        ("$in:1, 2,3", "$in", (1, 2, 3)),
        ("$null", "$null", ()),
    ],
)
def test_each_operator_on_numbers(raw: str, op: str, values: tuple[int, ...]) -> None:
    assert only(parse(("filter.duration", raw))) == Condition("duration", op, values)  # type: ignore[arg-type]


def test_not_prefix_negates() -> None:
    assert only(parse(("filter.disposition", "$not:ANSWERED"))) == Condition(
        "disposition", "$eq", ("ANSWERED",), negate=True
    )
    assert only(parse(("filter.answerTime", "$not:$null"))) == Condition(
        "answerTime", "$null", (), negate=True
    )
    assert only(parse(("filter.duration", "$not:$in:1,2"))).negate


@pytest.mark.parametrize("raw", ["$or:$not:$gte:30", "$not:$or:$gte:30"])
def test_or_and_not_prefixes_in_either_order(raw: str) -> None:
    assert only(parse(("filter.duration", raw))) == Condition(
        "duration", "$gte", (30,), negate=True, any_of=True
    )


def test_and_prefix_is_the_default_comparator() -> None:
    assert only(parse(("filter.duration", "$and:$gte:30"))) == Condition("duration", "$gte", (30,))


def test_several_filters_keep_request_order_also_on_one_field() -> None:
    query = parse(
        ("filter.duration", "$gte:30"),
        ("filter.destination", "$contains:0812"),
        ("filter.duration", "$or:$eq:0"),
    )
    assert query.conditions == (
        Condition("duration", "$gte", (30,)),
        Condition("destination", "$contains", ("0812",)),
        Condition("duration", "$eq", (0,), any_of=True),
    )


# --- filters: typed values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-07-23", datetime(2025, 7, 23, tzinfo=UTC)),
        ("2025-07-23T03:37", datetime(2025, 7, 23, 3, 37, tzinfo=UTC)),
        ("2025-07-23T03:37:56", datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)),
        ("2025-07-23T03:37:56Z", datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)),
        ("2025-07-23T03:37:56.000Z", datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)),
        ("2025-07-23T03:37:56.5Z", datetime(2025, 7, 23, 3, 37, 56, 500000, tzinfo=UTC)),
        ("2025-07-23t03:37:56.123456z", datetime(2025, 7, 23, 3, 37, 56, 123456, tzinfo=UTC)),
        ("2025-07-23T03:37:56.123456789Z", datetime(2025, 7, 23, 3, 37, 56, 123456, tzinfo=UTC)),
        ("2025-07-23 03:37:56", datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)),
        ("2025-07-23T10:37:56+07:00", datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)),
        ("2025-07-23T10:37:56+0700", datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)),
        ("2025-07-23T00:07:56-03:30", datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)),
        # `+07:00` sent unencoded in a query string arrives as ` 07:00`.
        ("2025-07-23T10:37:56 07:00", datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)),
    ],
)
def test_times_in_iso_8601_become_utc(raw: str, expected: datetime) -> None:
    value = only(parse(("filter.startTime", f"$gte:{raw}"))).values[0]
    assert value == expected
    assert isinstance(value, datetime)
    assert value.utcoffset() == timedelta(0)


@pytest.mark.parametrize("field", [f for f, kind in FIELD_TYPES.items() if kind == "time"])
def test_every_time_field_takes_times(field: str) -> None:
    condition = only(parse((f"filter.{field}", "$btw:2025-07-01,2025-07-31T23:59:59.999Z")))
    assert condition.values == (
        datetime(2025, 7, 1, tzinfo=UTC),
        datetime(2025, 7, 31, 23, 59, 59, 999000, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yesterday", "filter.startTime: expected an ISO 8601 time like 2025-07-23 or "),
        ("2025-7-23", "filter.startTime: expected an ISO 8601 time like"),
        ("1721700000", "filter.startTime: expected an ISO 8601 time like"),
        ("٢٠٢٥-07-23", "filter.startTime: expected an ISO 8601 time like"),
        ("2025-13-01", "filter.startTime: '2025-13-01' is not a valid time (month must be in"),
        ("2025-02-30", "filter.startTime: '2025-02-30' is not a valid time (day is out of range"),
        ("2025-07-23T25:00", "filter.startTime: '2025-07-23T25:00' is not a valid time (hour"),
        (
            "2025-07-23T10:00+25:00",
            "filter.startTime: '2025-07-23T10:00+25:00' is not a valid time",
        ),
    ],
)
def test_bad_times_are_rejected_with_an_example(raw: str, expected: str) -> None:
    assert error(("filter.startTime", f"$gte:{raw}")).startswith(expected)


@pytest.mark.parametrize("raw", ["abc", "3.5", "1e3", "", "$gt:", "$in:1,,2", "$btw:1,x"])
def test_numbers_must_be_whole(raw: str) -> None:
    message = error(("filter.billableSeconds", raw))
    assert message.startswith("filter.billableSeconds: ")


def test_number_messages() -> None:
    assert error(("filter.duration", "$gte:abc")) == (
        "filter.duration: expected a whole number, got 'abc'"
    )
    assert error(("filter.duration", "$gte:99999999999")) == (
        "filter.duration: '99999999999' is out of range"
    )
    assert error(("filter.duration", "$lt:" + "9" * 5000)) == (
        f"filter.duration: '{'9' * 57}...' is out of range"
    )
    assert error(("filter.duration", "$in:1,,2")) == (
        "filter.duration: empty value in a list; remove the extra comma"
    )


@pytest.mark.parametrize("field", [f for f, kind in FIELD_TYPES.items() if kind == "number"])
def test_every_number_field_takes_numbers(field: str) -> None:
    assert only(parse((f"filter.{field}", "$lte:17"))).values == (17,)


# --- filters: errors -------------------------------------------------------------------------


def test_unknown_field_lists_the_fields() -> None:
    message = error(("filter.account", "acme"))
    assert message.startswith("filter.account: unknown field 'account'; filterable fields: ")
    assert all(field in message for field in FIELD_TYPES)


def test_id_sorts_but_does_not_filter() -> None:
    assert error(("filter.id", "1")).startswith("filter.id: unknown field 'id'")


@pytest.mark.parametrize("raw", ["$regex:08.*", "$ne:1", "$any:$eq:1", "$foo"])
def test_unknown_operator_is_named(raw: str) -> None:
    operator = raw.split(":")[0]
    assert error(("filter.destination", raw)).startswith(
        f"filter.destination: unknown operator '{operator}'; operators: $eq, $null, $in,"
    )


@pytest.mark.parametrize("op", ["$ilike", "$sw", "$contains"])
@pytest.mark.parametrize("field", ["duration", "startTime"])
def test_text_operators_on_other_types_are_rejected(op: str, field: str) -> None:
    kind = FIELD_TYPES[field]
    assert error((f"filter.{field}", f"{op}:1")) == (
        f"filter.{field}: {op} applies to text fields; {field} is a {kind}, "
        "use $eq, $in, $gt, $gte, $lt, $lte, $btw or $null"
    )


def test_btw_needs_exactly_two_values() -> None:
    assert error(("filter.duration", "$btw:30")) == (
        "filter.duration: $btw needs two values separated by a comma, e.g. $btw:30,60"
    )
    assert error(("filter.startTime", "$btw:2025-07-01,2025-07-02,2025-07-03")).startswith(
        "filter.startTime: $btw needs two values separated by a comma, e.g. $btw:2025-07-01,"
    )


def test_operators_need_values_except_null() -> None:
    assert error(("filter.destination", "$contains")) == (
        "filter.destination: $contains needs a value, e.g. $contains:0812"
    )
    assert error(("filter.destination", "")) == (
        "filter.destination: $eq needs a value, e.g. $eq:0812"
    )
    assert error(("filter.answerTime", "$null:true")) == (
        "filter.answerTime: $null takes no value, got 'true'; use $not:$null for 'is present'"
    )


def test_repeated_prefixes_are_rejected() -> None:
    assert error(("filter.duration", "$not:$not:1")) == (
        "filter.duration: $not is given twice in '$not:$not:1'"
    )
    assert error(("filter.duration", "$or:$and:1")) == (
        "filter.duration: give $or or $and once, got '$or:$and:1'"
    )


def test_the_number_of_filters_is_bounded() -> None:
    params = [("filter.duration", "$gte:1")] * (MAX_FILTER_TERMS + 1)
    assert error(*params) == f"too many filters: at most {MAX_FILTER_TERMS} per request"


@pytest.mark.parametrize("name", ["filter", "search", "searchBy", "cursor"])
def test_parameters_that_would_silently_change_results_are_rejected(name: str) -> None:
    assert error((name, "x")).startswith(f"{name}: ")


def test_other_parameters_are_ignored() -> None:
    assert parse(("select", "id"), ("_", "1700000000"), ("token", "t")) == parse()


# --- the response ----------------------------------------------------------------------------

T0 = datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)


def record(session_id: str) -> CallRecord:
    return CallRecord(
        session_id=session_id,
        account="acme",
        direction="outbound",
        destination="0811234678",
        caller_id=None,
        start_time=T0,
        answer_time=None,
        end_time=T0 + timedelta(seconds=24),
        disposition="NO ANSWER",
        hangup_by=None,
        hangup_cause_code=19,
        created_at=T0 + timedelta(seconds=26),
        updated_at=T0 + timedelta(seconds=26),
    )


def respond(params: Params, total: int, records: list[CallRecord] | None = None) -> dict[str, Any]:
    query = parse_cdr_query("acme", params)
    return cdr_page_response(query, CdrPage(records or [], total), "/v1/cdr", params)


def test_response_shape_of_the_spec_example() -> None:
    params = [
        ("page", "1"),
        ("limit", "10"),
        ("filter.destination", "$contains:0812"),
        ("filter.duration", "$gte:30"),
    ]
    body = respond(params, 36, [record("s1")])
    assert body == {
        "data": [record("s1").to_json()],
        "meta": {
            "itemsPerPage": 10,
            "totalItems": 36,
            "currentPage": 1,
            "totalPages": 4,
            "sortBy": [["id", "DESC"]],
            "filter": {"destination": "$contains:0812", "duration": "$gte:30"},
        },
        "links": {
            "current": "/v1/cdr?page=1&limit=10&sortBy=id:DESC"
            "&filter.destination=$contains:0812&filter.duration=$gte:30",
            "next": "/v1/cdr?page=2&limit=10&sortBy=id:DESC"
            "&filter.destination=$contains:0812&filter.duration=$gte:30",
            "last": "/v1/cdr?page=4&limit=10&sortBy=id:DESC"
            "&filter.destination=$contains:0812&filter.duration=$gte:30",
        },
    }


def test_meta_has_no_filter_without_filters() -> None:
    body = respond([], 0)
    assert body["meta"] == {
        "itemsPerPage": 100,
        "totalItems": 0,
        "currentPage": 1,
        "totalPages": 0,
        "sortBy": [["id", "DESC"]],
    }
    assert body["links"] == {"current": "/v1/cdr?page=1&limit=100&sortBy=id:DESC"}


def test_links_in_the_middle_and_on_the_last_page() -> None:
    middle = respond([("page", "2"), ("limit", "10")], 30)
    assert middle["links"] == {
        "first": "/v1/cdr?page=1&limit=10&sortBy=id:DESC",
        "previous": "/v1/cdr?page=1&limit=10&sortBy=id:DESC",
        "current": "/v1/cdr?page=2&limit=10&sortBy=id:DESC",
        "next": "/v1/cdr?page=3&limit=10&sortBy=id:DESC",
        "last": "/v1/cdr?page=3&limit=10&sortBy=id:DESC",
    }
    last = respond([("page", "3"), ("limit", "10")], 30)
    assert list(last["links"]) == ["first", "previous", "current"]


def test_a_page_past_the_end_reports_the_last_page() -> None:
    body = respond([("page", "9"), ("limit", "10")], 30)
    assert body["data"] == []
    assert body["meta"]["currentPage"] == 3
    assert body["links"]["current"] == "/v1/cdr?page=3&limit=10&sortBy=id:DESC"


def test_links_carry_applied_limit_and_sort_and_the_filters_as_sent() -> None:
    params = [
        ("limit", "5000"),
        ("sortBy", "startTime:desc"),
        ("filter.destination", "$sw:+62"),
        ("filter.duration", "$gte:30"),
        ("filter.destination", "$or:$eq:0812 34"),
    ]
    body = respond(params, 1)
    assert body["meta"]["itemsPerPage"] == 1000
    assert body["meta"]["sortBy"] == [["startTime", "DESC"]]
    assert body["meta"]["filter"] == {
        "destination": ["$sw:+62", "$or:$eq:0812 34"],
        "duration": "$gte:30",
    }
    # `+` and spaces are escaped so the link parses back to the same filters.
    assert body["links"] == {
        "current": "/v1/cdr?page=1&limit=1000&sortBy=startTime:DESC&filter.destination=$sw:%2B62"
        "&filter.destination=$or:$eq:0812%2034&filter.duration=$gte:30"
    }


def test_a_link_parses_back_to_the_same_query() -> None:
    from urllib.parse import parse_qsl, urlsplit

    params = [
        ("page", "2"),
        ("limit", "3"),
        ("sortBy", "billableSeconds:ASC"),
        ("filter.destination", "$contains:+62 8%&#"),
        ("filter.startTime", "$btw:2025-07-01,2025-07-23T03:37:56.000Z"),
    ]
    query = parse_cdr_query("acme", params)
    link = cdr_page_response(query, CdrPage([], 10), "/v1/cdr", params)["links"]["current"]
    again = parse_qsl(urlsplit(link).query, keep_blank_values=True)
    assert parse_cdr_query("acme", again) == query
