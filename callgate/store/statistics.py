"""SQLite's planner statistics for the CDR table, refreshed as the table grows.

SQLite chooses between an account's index and the trigram hits with the row counts ANALYZE left
in sqlite_stat1, and never refreshes them itself: statistics taken when the table was small (or
none at all) lead it to scan an account's rows where the substring index would answer in
milliseconds. A sampled ANALYZE (analysis_limit) is cheap but misjudges low-cardinality columns
such as the account by orders of magnitude, so this takes a full one (about 0.7 s per million
rows, readers unaffected under WAL) whenever the table has doubled since the last: at most a
logarithmic number of times over the table's life.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

GROWTH_FACTOR = 2
MIN_ROWS = 1000  # below this any plan is fast


class TableStatistics:
    """Tracks the table's size against the size its statistics describe."""

    def __init__(self) -> None:
        self._analyzed_rows = 0
        self._rows = 0

    async def load(self, conn: AsyncConnection) -> None:
        """Read what the database knows: the rows now, the rows when last analyzed."""
        self._rows = (await conn.execute(text("SELECT coalesce(max(id), 0) FROM cdr"))).scalar_one()
        has_stats = (
            await conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"))
        ).first()
        self._analyzed_rows = 0
        if has_stats is not None:
            stat = (
                await conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'cdr' LIMIT 1"))
            ).scalar()
            # The first number of a stat row is the table's row count when it was analyzed.
            if isinstance(stat, str) and stat.split()[0].isdigit():
                self._analyzed_rows = int(stat.split()[0])

    def written(self, rows: int) -> None:
        self._rows += rows  # updates count too: an over-estimate only brings ANALYZE forward

    @property
    def stale(self) -> bool:
        return self._rows >= MIN_ROWS and self._rows >= GROWTH_FACTOR * self._analyzed_rows

    async def analyze(self, conn: AsyncConnection) -> None:
        await conn.execute(text("ANALYZE cdr"))
        self._analyzed_rows = self._rows
