"""What the domain needs from CDR storage, and the storage-neutral CDR query.

`store/` implements `RecordStore` on SQL; `api/` parses the REST query language into `CdrQuery`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from callgate.calls.records import CallRecord

# Operators of the query language (nestjs-paginate's), without the `$not` / `$or` prefixes.
FilterOp = Literal[
    "$eq", "$null", "$in", "$gt", "$gte", "$lt", "$lte", "$btw", "$ilike", "$sw", "$contains"
]
SortDir = Literal["ASC", "DESC"]
FilterValue = str | int | float | datetime | None


@dataclass(frozen=True, slots=True)
class Condition:
    """One filter term: `field op values`, maybe negated (`$not`), maybe OR-ed (`$or`)."""

    field: str  # the API field name, e.g. "destination", "billableSeconds"
    op: FilterOp
    values: tuple[
        FilterValue, ...
    ]  # typed: int or float for numbers, datetime for times; 0, 1 or 2+ items
    negate: bool = False
    any_of: bool = False  # `$or`: joins the terms of its field with OR instead of AND


@dataclass(frozen=True, slots=True)
class CdrQuery:
    account: str
    conditions: tuple[Condition, ...] = ()
    sort: tuple[tuple[str, SortDir], ...] = (("id", "DESC"),)
    page: int = 1
    limit: int = 100


@dataclass(frozen=True, slots=True)
class CdrPage:
    records: Sequence[CallRecord]
    total: int


class QueryTooCostly(Exception):
    """A listing ran past the store's time budget and was stopped; narrowing it is the remedy."""

    def __init__(self, budget_s: float) -> None:
        super().__init__(f"the query ran past its budget of {budget_s:g} s and was stopped")
        self.budget_s = budget_s


class StoreBusy(Exception):
    """No database connection for reading came free in time (the store's reads are all busy)."""


class RecordStore(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date (migrations)."""

    async def close(self) -> None: ...

    async def upsert(self, records: Sequence[CallRecord]) -> None:
        """Insert or update these records (keyed by session id) in one durable transaction."""

    async def get(self, account: str, session_id: str) -> CallRecord | None: ...

    async def query(self, query: CdrQuery) -> CdrPage:
        """One page of matches and their total; `QueryTooCostly` past the store's time budget."""

    async def open_records(self, node: str) -> Sequence[CallRecord]:
        """Records this node left open (no endTime): calls that were live when it stopped."""

    async def open_nodes(self) -> Sequence[str]:
        """The nodes that have open records (calls live now, or left open by a node that died)."""

    async def touch_open(self, node: str, now: datetime) -> None:
        """Set updatedAt of this node's open records to `now`: the heartbeat crash recovery reads."""

    async def find_by_idempotency_key(
        self, account: str, key: str, *, hangup: bool, since: datetime
    ) -> Sequence[CallRecord]:
        """The account's records placed (or, with `hangup`, ended) by a request that carried `key`
        at or after `since`, oldest first (a few at most)."""
