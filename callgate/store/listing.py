"""The statements behind one CDR listing: its page of rows and the count of all its matches.

Two ways to get them:
- Page and count: a deferred join (the page's ids found first, so the sort runs on index entries
  and rows skipped by the offset are never read, then just those rows fetched) and a COUNT(*).
  A page shorter than the limit is the last one and needs no count.
- All ids in one pass, on SQLite when a substring condition answered by the FTS5 trigram index
  bounds the matches: page and count would each walk the same trigram hits, paying a row lookup
  per hit (the bulk of the time), so instead the ids of all matches are fetched once, in order:
  their number is the total, and the page's slice of them is fetched by id. Past `ONE_PASS_MAX_IDS`
  matches it stops and falls back to page and count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.sql.elements import ColumnElement

from callgate.calls.recordstore import CdrQuery
from callgate.store.filters import Dialect, order_by, substring_bounded, where_clauses
from callgate.store.schema import cdr

# Most matches the one-pass way takes (their ids are held in memory); past it, page and count.
ONE_PASS_MAX_IDS = 20_000


@dataclass(frozen=True, slots=True)
class Listing:
    page: Select[Any]
    count: Select[int]
    offset: int
    # The ids of every match in order, at most ONE_PASS_MAX_IDS + 1 of them; None: not bounded.
    all_ids: Select[int] | None


def listing(query: CdrQuery, dialect: Dialect) -> Listing:
    where: list[ColumnElement[bool]] = [
        cdr.c.account == query.account,
        *where_clauses(query.conditions, dialect),
    ]
    offset = (query.page - 1) * query.limit
    order = order_by(query.sort)
    page_ids = select(cdr.c.id).where(*where).order_by(*order).limit(query.limit).offset(offset)
    all_ids = None
    if substring_bounded(query.conditions, dialect):
        all_ids = select(cdr.c.id).where(*where).order_by(*order).limit(ONE_PASS_MAX_IDS + 1)
    return Listing(
        page=select(cdr).where(cdr.c.id.in_(page_ids)).order_by(*order),
        count=select(func.count()).select_from(cdr).where(*where),
        offset=offset,
        all_ids=all_ids,
    )
