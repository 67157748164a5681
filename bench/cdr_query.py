"""Benchmark: `GET /v1/cdr` listings over a million CDRs, on SQLite and PostgreSQL; prints JSON.

Loads realistic CDRs (five accounts of unequal size, Indonesian mobile numbers written 08…, +628…
and 628…, mixed dispositions, lognormal talk times, six months of start times) in bulk (executemany
on SQLite, through the FTS triggers; COPY on PostgreSQL), then times what the endpoint does for
each request: `parse_cdr_query`, `store.query` (page and COUNT), `cdr_page_response` and the JSON
encoding. Each query shape runs `--repeat` times with varied values (number prefixes, months,
accounts weighted towards the largest), after one warm-up round.

    .venv/bin/python bench/cdr_query.py --rows 1000000 --db both
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from callgate.api.cdr_query import cdr_page_response, parse_cdr_query
from callgate.calls.causes import cause_text
from callgate.store import SqlRecordStore
from callgate.store.schema import cdr
from callgate.store.timecol import from_epoch_ms

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "callgate_bench"
TARGET_P95_MS = 50.0

ACCOUNTS = {"acme": 0.40, "globex": 0.25, "initech": 0.15, "umbrella": 0.12, "hooli": 0.08}
# Mobile prefixes after the leading 08 (0812..., +62812...).
OPERATOR_PREFIXES = (
    *("11", "12", "13", "21", "22", "23", "51", "52", "53"),  # Telkomsel
    *("14", "15", "16", "55", "56", "57", "58"),  # Indosat
    *("17", "18", "19", "59", "77", "78"),  # XL
    *("31", "32", "38"),  # Axis
    *("95", "96", "97", "98", "99"),  # Tri
    *("81", "82", "83", "87", "88"),  # Smartfren
)
# disposition: (share, cause codes)
DISPOSITIONS = {
    "ANSWERED": (0.55, (16,)),
    "NO ANSWER": (0.25, (19, 18)),
    "BUSY": (0.10, (17, 21)),
    "FAILED": (0.07, (1, 27, 28, 34, 38, 44, 127)),
    "CANCEL": (0.03, (16,)),
}
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_DAYS = 180
# Every column a generated row fills, in the table's order: not the id, nor the idempotency keys
# (a request's, which imported history has none of).
COLUMNS = tuple(
    column.name for column in cdr.c if column.name != "id" and "idempotency" not in column.name
)
TIME_COLUMNS = {"start_time", "answer_time", "end_time", "created_at", "updated_at"}

Row = tuple[Any, ...]


def generate(rows: int, seed: int) -> Iterator[Row]:
    """CDR rows in COLUMNS order, times as epoch milliseconds, in start-time order (as written)."""
    rnd = random.Random(seed)
    start_ms = int(START.timestamp() * 1000)
    span_ms = SPAN_DAYS * 86_400_000
    starts = sorted(rnd.randrange(start_ms, start_ms + span_ms) for _ in range(rows))
    accounts, account_weights = list(ACCOUNTS), list(ACCOUNTS.values())
    dispositions = list(DISPOSITIONS)
    disposition_weights = [share for share, _ in DISPOSITIONS.values()]
    callers = {
        account: [f"021{rnd.randrange(10**7):07d}" for _ in range(3)] for account in accounts
    }
    for started in starts:
        subscriber = f"{rnd.randrange(10**9):09d}"[: rnd.choice((7, 8, 8, 9))]
        national = "8" + rnd.choice(OPERATOR_PREFIXES) + subscriber
        form = rnd.random()
        destination = "0" + national if form < 0.6 else ("+62" if form < 0.9 else "62") + national
        account = rnd.choices(accounts, account_weights)[0]
        disposition = rnd.choices(dispositions, disposition_weights)[0]
        code = rnd.choice(DISPOSITIONS[disposition][1])
        answered: int | None = None
        if disposition == "ANSWERED":
            answered = started + rnd.randint(2_000, 25_000)
            ended = answered + int(rnd.lognormvariate(4.0, 1.0) * 1000)
        elif disposition == "NO ANSWER":
            ended = started + rnd.randint(30_000, 60_000)
        else:
            ended = started + rnd.randint(0, 15_000)
        billable = 0 if answered is None else (ended - answered) // 1000
        written = ended + rnd.randint(50, 1500)
        yield (
            str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            account,
            "outbound",
            destination,
            rnd.choice(callers[account]),
            started,
            answered,
            ended,
            (ended - started) // 1000,
            billable,
            disposition,
            None if answered is None else rnd.choice(("CALLER", "CALLEE")),
            code,
            cause_text(code),
            written,
            written,
            "node-1",
        )


def chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def load(store: SqlRecordStore, rows: Iterator[Row]) -> None:
    """Bulk import as an operator would: secondary indexes (and SQLite's FTS triggers) are set
    aside during the load and rebuilt after it, then statistics are gathered (and PostgreSQL's
    visibility map set, as autovacuum does for a settled table)."""
    engine = store.engine()
    if store.dialect == "sqlite":
        await _load_sqlite(engine, rows)
    else:
        await _load_postgres(engine, rows)


async def _load_sqlite(engine: AsyncEngine, rows: Iterator[Row]) -> None:
    sql = f"INSERT INTO cdr ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    async with engine.begin() as conn:
        await conn.exec_driver_sql("PRAGMA cache_size=-1048576")
        result = await conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master"
            " WHERE tbl_name = 'cdr' AND type IN ('index', 'trigger') AND sql IS NOT NULL"
        )
        aside = cast(list[tuple[str, str, str]], result.all())
        for kind, name, _ in aside:
            await conn.exec_driver_sql(f"DROP {kind.upper()} {name}")
        for chunk in chunks(rows, 50_000):
            await conn.exec_driver_sql(sql, chunk)
    # The FTS index in bulk, then merged into one segment as trigger-fed merging keeps it. Each
    # step committed first, and before the B-tree indexes exist: rebuilding from pages still in
    # the WAL, or from a covering index (rows out of rowid order), is many times slower.
    for command in ("rebuild", "optimize"):
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                f"INSERT INTO cdr_destination_fts(cdr_destination_fts) VALUES ('{command}')"
            )
    async with engine.begin() as conn:
        for _, _, definition in aside:
            await conn.exec_driver_sql(definition)
        await conn.exec_driver_sql("ANALYZE cdr")


async def _load_postgres(engine: AsyncEngine, rows: Iterator[Row]) -> None:
    as_time = [name in TIME_COLUMNS for name in COLUMNS]
    async with engine.begin() as conn:
        await conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        result = await conn.exec_driver_sql(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = 'cdr'::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        )
        aside = cast(list[tuple[str, str]], result.all())
        for name, _ in aside:
            await conn.exec_driver_sql(f'DROP INDEX "{name}"')
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        for chunk in chunks(rows, 100_000):
            records = [
                tuple(
                    from_epoch_ms(value) if is_time and value is not None else value
                    for value, is_time in zip(row, as_time, strict=True)
                )
                for row in chunk
            ]
            await raw.copy_records_to_table("cdr", records=records, columns=COLUMNS)
        for _, definition in aside:
            await conn.exec_driver_sql(definition)
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("VACUUM ANALYZE cdr")


def _account(rnd: random.Random) -> str:
    return rnd.choices(["acme", "globex", "initech"], [0.6, 0.25, 0.15])[0]


def _month(rnd: random.Random) -> tuple[str, str]:
    first = START + timedelta(days=30 * rnd.randrange(SPAN_DAYS // 30))
    return first.date().isoformat(), (first + timedelta(days=30)).date().isoformat()


def _local_prefix(rnd: random.Random) -> str:
    return "08" + rnd.choice(OPERATOR_PREFIXES)


Shape = Callable[[random.Random, Sequence[str]], list[tuple[str, str]]]

SHAPES: dict[str, Shape] = {
    "spec_example": lambda rnd, numbers: [
        ("page", "1"),
        ("limit", "10"),
        ("filter.destination", "$contains:" + _local_prefix(rnd)),
        ("filter.duration", "$gte:30"),
    ],
    "contains+duration by startTime": lambda rnd, numbers: [
        ("filter.destination", "$contains:" + _local_prefix(rnd)),
        ("filter.duration", "$gte:30"),
        ("sortBy", "startTime:DESC"),
    ],
    "disposition+billable by billable": lambda rnd, numbers: [
        ("filter.disposition", "$eq:ANSWERED"),
        ("filter.billableSeconds", f"$gt:{rnd.choice((30, 60, 120))}"),
        ("sortBy", "billableSeconds:DESC"),
    ],
    "month $btw + $sw": lambda rnd, numbers: [
        ("filter.startTime", "$btw:" + ",".join(_month(rnd))),
        ("filter.destination", "$sw:+628" + rnd.choice(OPERATOR_PREFIXES)),
        ("sortBy", "startTime:DESC"),
    ],
    "one number ($eq)": lambda rnd, numbers: [("filter.destination", rnd.choice(numbers))],
    "one number ($contains, national)": lambda rnd, numbers: [
        ("filter.destination", "$contains:" + rnd.choice(numbers).lstrip("+")[-10:]),
    ],
    "default listing": lambda rnd, numbers: [],
    "page 20, duration by startTime": lambda rnd, numbers: [
        ("page", "20"),
        ("filter.duration", "$gte:60"),
        ("sortBy", "startTime:DESC"),
    ],
}


async def run_shape(
    store: SqlRecordStore, shape: Shape, rnd: random.Random, numbers: Sequence[str], repeat: int
) -> list[float]:
    timings: list[float] = []
    for _ in range(repeat):
        account = _account(rnd)
        params = shape(rnd, numbers)
        began = time.perf_counter()
        query = parse_cdr_query(account, params)
        page = await store.query(query)
        json.dumps(cdr_page_response(query, page, "/v1/cdr", params))
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def summary(timings: Sequence[float]) -> dict[str, float]:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "max_ms": round(ordered[-1], 2),
    }


async def bench_database(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    schema = PG_SCHEMA if name == "postgres" else None
    if schema is not None:
        await _reset_schema(url, schema)
    store = SqlRecordStore(url, schema=schema)
    await store.open()
    began = time.perf_counter()
    await load(store, generate(args.rows, args.seed))
    load_s = time.perf_counter() - began
    await store.close()
    await store.open()  # as a restarted gateway: statistics refreshed on open
    numbers = await _sample_numbers(store)
    result: dict[str, Any] = {"rows": args.rows, "load_s": round(load_s, 1), "queries": {}}
    everything: list[float] = []
    for shape_name, shape in SHAPES.items():
        await run_shape(store, shape, random.Random(args.seed), numbers, 2)  # warm-up
        timings = await run_shape(store, shape, random.Random(args.seed + 1), numbers, args.repeat)
        result["queries"][shape_name] = summary(timings)
        everything += timings
    result["all"] = summary(everything)
    result["meets_p95_target"] = result["all"]["p95_ms"] <= TARGET_P95_MS
    await store.close()
    if schema is not None and not args.keep:
        await _drop_schema(url, schema)
    return result


async def _sample_numbers(store: SqlRecordStore) -> list[str]:
    """Destinations that exist, spread over the table, for the one-number lookups."""
    async with store.engine().connect() as conn:
        result = await conn.execute(
            text("SELECT destination FROM cdr WHERE id % 499 = 0 LIMIT 2000")
        )
        return [row[0] for row in result]


async def _reset_schema(url: str, schema: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await engine.dispose()


async def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=40, help="timed runs per query shape")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--keep", action="store_true", help="keep the loaded data afterwards")
    args = parser.parse_args()
    report: dict[str, Any] = {"target_p95_ms": TARGET_P95_MS}
    with tempfile.TemporaryDirectory(prefix="callgate-bench-") as tmp:
        directory = Path(tempfile.mkdtemp(prefix="callgate-bench-")) if args.keep else Path(tmp)
        if args.db in ("sqlite", "both"):
            url = f"sqlite+aiosqlite:///{directory / 'cdr.db'}"
            report["sqlite"] = await bench_database("sqlite", url, args)
            if args.keep:
                report["sqlite"]["path"] = str(directory / "cdr.db")
        if args.db in ("postgres", "both"):
            report["postgres"] = await bench_database("postgres", args.pg_url, args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
