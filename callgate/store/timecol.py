"""The column type for CDR times: a UTC instant, exact to the millisecond on both databases.

PostgreSQL stores `timestamptz`. SQLite has no time type, so it stores integer milliseconds since the
epoch: compact, sorted numerically, and range filters become integer comparisons an index serves.
Rows are written at millisecond precision (the store truncates them, as the API prints them); a
filter value finer than that is bound as a fractional millisecond so `>`/`<` stay exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


def to_epoch_ms(value: datetime) -> int | float:
    """Milliseconds since the epoch: an int when whole, else a float carrying the microseconds."""
    if value.tzinfo is None:
        raise ValueError(f"CDR times must be timezone-aware, got naive {value.isoformat()}")
    delta = value - EPOCH
    whole, rest = divmod(delta, ONE_MS)
    return whole if not rest else whole + rest / ONE_MS


def from_epoch_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


class UtcTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime: `timestamptz` on PostgreSQL, epoch milliseconds on SQLite."""

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(TIMESTAMP(timezone=True))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> object:
        if value is None:
            return None
        if dialect.name == "postgresql":
            if value.tzinfo is None:
                raise ValueError(f"CDR times must be timezone-aware, got naive {value.isoformat()}")
            return value.astimezone(UTC)
        return to_epoch_ms(value)

    def process_result_value(self, value: object, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        if isinstance(value, int):
            return from_epoch_ms(value)
        raise TypeError(f"unexpected stored time {value!r}")
