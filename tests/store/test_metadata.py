"""A call's metadata in the store: kept byte for byte, and `filter.metadata.<key>` from the query
string to rows, identically on SQLite and PostgreSQL (a schema of its own, tests/store/conftest.py)."""

from __future__ import annotations

import pytest

from callgate.api.cdr_query import CdrQueryError, parse_cdr_query
from callgate.store import SqlRecordStore
from tests.store.sample import record

RECORDS = [
    record("m1", metadata={"crmId": "42", "team": "sales", "tags": ["vip"]}),
    record("m2", metadata={"crmId": "43", "team": "Support"}),
    record("m3", metadata={"crmId": 42, "team": "sales"}),  # a number is not the string "42"
    record("m4", metadata={"nested": {"crmId": "42"}, "team": None}),
    record("m5"),  # no metadata at all
    record("o1", account="other", metadata={"crmId": "42"}),
]

CASES: list[tuple[str, str]] = [
    ("filter.metadata.crmId=42", "m1"),
    ("filter.metadata.crmId=$eq:42", "m1"),
    ("filter.metadata.crmId=$in:42,43", "m1 m2"),
    ("filter.metadata.crmId=$null", "m3 m4 m5"),
    ("filter.metadata.crmId=$not:$null", "m1 m2"),
    ("filter.metadata.crmId=$not:42", "m2"),
    ("filter.metadata.team=sales", "m1 m3"),
    ("filter.metadata.team=$ilike:SUP", "m2"),
    ("filter.metadata.team=$contains:Sup", "m2"),
    ("filter.metadata.team=$contains:sup", ""),
    ("filter.metadata.team=$sw:sa", "m1 m3"),
    ("filter.metadata.tags=vip", ""),  # an array is not a string
    ("filter.metadata.nested=42", ""),
    ("filter.metadata.crmId=42&filter.metadata.team=sales", "m1"),
    ("filter.metadata.crmId=$or:43&filter.metadata.team=$or:sales", "m1 m2 m3"),
    ("filter.metadata.missing=x", ""),
]


def params(query_string: str) -> list[tuple[str, str]]:
    return [(name, value) for name, value in (p.split("=", 1) for p in query_string.split("&"))]


async def test_metadata_reads_back_as_written(store: SqlRecordStore) -> None:
    await store.upsert(RECORDS)
    for written in RECORDS:
        assert await store.get(written.account, written.session_id) == written


async def test_filter_by_metadata_key(store: SqlRecordStore, subtests: pytest.Subtests) -> None:
    await store.upsert(RECORDS)
    for query_string, expected in CASES:
        with subtests.test(msg=query_string):
            page = await store.query(parse_cdr_query("acme", params(query_string)))
            got = sorted(r.session_id for r in page.records)
            assert got == expected.split()
            assert page.total == len(got)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("filter.metadata.=x", "a metadata key is 1 to 64 letters, digits, '_' or '-', got ''"),
        ("filter.metadata.a.b=x", "a metadata key is 1 to 64 letters"),
        ("filter.metadata.a%20b=x", "a metadata key is 1 to 64 letters"),
    ],
)
def test_bad_metadata_keys_are_refused(query: str, message: str) -> None:
    with pytest.raises(CdrQueryError) as caught:
        parse_cdr_query("acme", params(query.replace("%20", " ")))
    assert message in caught.value.message
