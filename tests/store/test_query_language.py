"""Every operator of `GET /v1/cdr`, end to end: query string → parse_cdr_query → SQL → rows.

One store per database holds the six sample records (tests/store/sample.py) and another account's
copy of a1; each case is a subtest naming its query string, and must return exactly the expected
session ids, identically on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from callgate.api.cdr_query import parse_cdr_query
from callgate.store import SqlRecordStore
from tests.store.sample import OTHER, SIX

ALL = "a1 a2 a3 a4 a5 a6"

# (query string as a client writes it, session ids expected); `&` separates parameters.
CASES: list[tuple[str, str]] = [
    # destination: text operators, through the substring index where there is one
    ("filter.destination=$eq:081234567890", "a1"),
    ("filter.destination=081234567890", "a1"),
    ("filter.destination=$contains:0812", "a1 a6"),
    ("filter.destination=$contains:812", "a1 a2 a6"),
    ("filter.destination=$contains:12", "a1 a2 a3 a4 a6"),  # too short for a trigram
    ("filter.destination=$contains:%_", "a6"),  # wildcards are literal
    ("filter.destination=$contains:2%_x", "a6"),
    ("filter.destination=$contains:Alice", "a5"),
    ("filter.destination=$contains:alice", ""),  # case sensitive
    ("filter.destination=$contains:ALICE@", ""),
    ("filter.destination=$ilike:alice", "a5"),
    ("filter.destination=$ilike:ALICE@EX", "a5"),
    ("filter.destination=$ilike:Al", "a5"),
    ("filter.destination=$ilike:%_", "a6"),
    ("filter.destination=$sw:+62", "a2"),
    ("filter.destination=$sw:62", "a4"),
    ("filter.destination=$sw:0812", "a1 a6"),
    ("filter.destination=$sw:SIP:", "a5"),  # case-insensitive
    ("filter.destination=$sw:Sip:a", "a5"),
    ("filter.destination=$sw:%", ""),
    ("filter.destination=$not:$contains:0812", "a2 a3 a4 a5"),
    ("filter.destination=$not:$sw:0", "a2 a4 a5"),
    ("filter.destination=$not:$ilike:ALICE", "a1 a2 a3 a4 a6"),
    ("filter.destination=$in:081234567890,085712345678", "a1 a3"),
    ("filter.destination=$not:$in:081234567890,085712345678", "a2 a4 a5 a6"),
    ("filter.destination=$gt:6", "a4 a5"),  # byte order: '+' < '0' < '6' < 's'
    ("filter.destination=$gte:6281312345678", "a4 a5"),
    ("filter.destination=$lt:0812", "a2"),
    ("filter.destination=$lte:0812%_x", "a2 a6"),
    ("filter.destination=$btw:0812,0813", "a1 a6"),
    ("filter.destination=$null", ""),
    ("filter.destination=$not:$null", ALL),
    # numbers
    ("filter.duration=$gt:40", "a1 a5"),
    ("filter.duration=$gte:40", "a1 a2 a5"),
    ("filter.duration=$lt:13", "a4 a6"),
    ("filter.duration=$lte:13", "a3 a4 a6"),
    ("filter.duration=$btw:10,65", "a1 a2 a3"),
    ("filter.duration=$not:$btw:10,65", "a4 a5 a6"),
    ("filter.duration=$eq:0", "a6"),
    ("filter.duration=0", "a6"),
    ("filter.duration=$in:2,13", "a3 a4"),
    ("filter.duration=$not:$eq:0", "a1 a2 a3 a4 a5"),
    ("filter.billableSeconds=$gt:0", "a1 a3 a5"),
    ("filter.billableSeconds=$eq:300", "a5"),
    ("filter.hangupCauseCode=16", "a1 a3 a5"),
    ("filter.hangupCauseCode=$in:17,19", "a2 a4"),
    ("filter.hangupCauseCode=$null", "a6"),
    ("filter.hangupCauseCode=$not:$null", "a1 a2 a3 a4 a5"),
    # text fields with NULLs: a negated term never matches NULL
    ("filter.disposition=ANSWERED", "a1 a3 a5"),
    ("filter.disposition=$not:ANSWERED", "a2 a4"),
    ("filter.disposition=$null", "a6"),
    ("filter.disposition=$in:BUSY,NO ANSWER", "a2 a4"),
    ("filter.disposition=$sw:no", "a2"),
    ("filter.disposition=$ilike:answer", "a1 a2 a3 a5"),
    ("filter.hangupBy=CALLEE", "a1 a5"),
    ("filter.hangupBy=$null", "a2 a4 a6"),
    ("filter.hangupCauseText=$ilike:busy", "a4"),
    ("filter.hangupCauseText=$sw:call", "a1 a3 a5"),
    ("filter.hangupCauseText=$contains:Destination", "a2 a4"),
    ("filter.hangupCauseText=$contains:destination", ""),
    ("filter.callerId=$null", "a2 a5"),
    ("filter.callerId=0215550101", "a1 a4"),
    ("filter.callerId=$sw:021555010", "a1 a3 a4 a6"),
    ("filter.direction=inbound", "a3"),
    ("filter.direction=$not:inbound", "a1 a2 a4 a5 a6"),
    ("filter.sessionId=$in:a1,a2,o1", "a1 a2"),  # o1 is another account's
    # times, exact to the millisecond (a1 starts at 2025-07-23T03:37:56.123Z)
    ("filter.startTime=$gte:2025-07-23T03:37:56.123Z", ALL),
    ("filter.startTime=$gt:2025-07-23T03:37:56.123Z", "a2 a3 a4 a5 a6"),
    ("filter.startTime=$gt:2025-07-23T03:37:56.1225Z", ALL),
    ("filter.startTime=$lt:2025-07-23T03:37:56.1235Z", "a1"),
    ("filter.startTime=$lt:2025-07-23T03:37:56.123Z", ""),
    ("filter.startTime=$lte:2025-07-23T03:37:56.123Z", "a1"),
    ("filter.startTime=$eq:2025-07-23T03:37:56.123Z", "a1"),
    ("filter.startTime=2025-07-23T10:37:56.123+07:00", "a1"),
    ("filter.startTime=$eq:2025-07-23T03:37:56.1225Z", ""),
    ("filter.startTime=$btw:2025-07-23,2025-07-24", "a1 a2 a3"),
    ("filter.startTime=$lt:2025-07-25", "a1 a2 a3 a4"),
    ("filter.startTime=$in:2025-07-23T03:37:56.123Z,2025-07-24T03:37:56.123Z", "a1 a4"),
    ("filter.startTime=$not:$btw:2025-07-23,2025-07-24", "a4 a5 a6"),
    ("filter.answerTime=$null", "a2 a4 a6"),
    ("filter.answerTime=$not:$null", "a1 a3 a5"),
    ("filter.answerTime=$gt:2025-07-23T03:38:01.123Z", "a3 a5"),
    ("filter.answerTime=$gte:2025-07-23T03:38:01.123Z", "a1 a3 a5"),
    ("filter.endTime=$null", "a6"),
    ("filter.endTime=$lt:2025-07-23T04:00:00Z", "a1"),
    ("filter.createdAt=$gte:2025-07-24", "a4 a5 a6"),
    ("filter.updatedAt=$lt:2025-07-23T04:00Z", "a1"),
    # several terms: AND by default, $or joins a term to the previous one, AND binds tighter
    ("filter.destination=$contains:0812&filter.duration=$gte:30", "a1"),  # the spec's example
    ("filter.duration=$gte:10&filter.duration=$lte:40", "a2 a3"),
    ("filter.duration=$lt:10&filter.duration=$or:$gt:100", "a4 a5 a6"),
    ("filter.duration=$gt:1&filter.duration=$lt:20&filter.duration=$or:$eq:301", "a3 a4 a5"),
    # a field whose first term is $or joins the shared OR group; its next terms AND onto it
    ("filter.duration=$or:$eq:301&filter.duration=$gt:1&filter.duration=$lt:20", ""),
    ("filter.disposition=$or:BUSY&filter.duration=$or:$gte:300", "a4 a5"),
    ("filter.disposition=$or:BUSY&filter.disposition=$or:NO ANSWER&filter.duration=$gte:10", "a2"),
    ("filter.disposition=BUSY&filter.disposition=$or:NO ANSWER&filter.hangupCauseCode=19", "a2"),
    ("filter.destination=$contains:0812&filter.destination=$or:$sw:+62", "a1 a2 a6"),
    ("filter.destination=$not:$contains:0812&filter.destination=$not:$contains:Alice", "a2 a3 a4"),
    ("filter.duration=$and:$gte:10&filter.duration=$and:$lte:40", "a2 a3"),
    ("filter.answerTime=$or:$null&filter.hangupBy=$or:CALLER", "a2 a3 a4 a6"),
]


def params(query_string: str) -> list[tuple[str, str]]:
    pairs = [part.split("=", 1) for part in query_string.split("&")]
    return [(name, value) for name, value in pairs]


async def test_every_operator_end_to_end(store: SqlRecordStore, subtests: pytest.Subtests) -> None:
    await store.upsert([*SIX, OTHER])
    for query_string, expected in CASES:
        with subtests.test(msg=query_string):
            page = await store.query(parse_cdr_query("acme", params(query_string)))
            got = sorted(record.session_id for record in page.records)
            assert got == expected.split()
            assert page.total == len(got)


async def test_results_come_newest_first_by_default(store: SqlRecordStore) -> None:
    await store.upsert([*SIX, OTHER])
    page = await store.query(parse_cdr_query("acme", params("filter.duration=$gte:13")))
    assert [r.session_id for r in page.records] == ["a5", "a3", "a2", "a1"]
