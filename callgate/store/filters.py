"""CdrQuery conditions and sort keys as SQL, the same results on SQLite and PostgreSQL.

Boolean structure (nestjs-paginate's, which the REST query language follows): conditions are grouped
by field in order of first appearance. Within a group each term joins the one before it with AND, or
with OR when it carries `$or` (`any_of`); AND binds tighter, as in the SQL nestjs-paginate emits, so
`a, b, $or:c` reads `(a AND b) OR c`. Fields whose first term carries `$or` form one shared group, so
`filter.x=$or:1&filter.y=$or:2` means `x = 1 OR y = 2`. All groups are then AND-ed together.

Text semantics: `$eq`/`$in`/comparisons are exact and byte-ordered (PostgreSQL text columns use
collation "C", SQLite compares bytes), `$ilike` is a case-insensitive substring, `$sw` a
case-insensitive prefix, `$contains` a case-sensitive substring; the value of all three is literal
(`%` and `_` match themselves). `$not` is SQL's NOT, so it never matches a NULL (use `$not:$null`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import Column, and_, case, cast, collate, func, not_, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from callgate.calls.recordstore import Condition, FilterValue, SortDir
from callgate.store.schema import API_COLUMNS, cdr, destination_fts

Dialect = Literal["sqlite", "postgresql"]

LIKE_ESCAPE = "\\"
NULLABLE_FIELDS = frozenset(
    name for name, col in API_COLUMNS.items() if isinstance(col, Column) and col.nullable
)
METADATA_PREFIX = "metadata."  # filter.metadata.<key> (callgate/api/cdr_query.py)
# FTS5's trigram tokenizer can only look up substrings of three characters or more.
FTS_MIN_CHARS = 3


def where_clauses(conditions: Sequence[Condition], dialect: Dialect) -> list[ColumnElement[bool]]:
    """The AND-ed clauses for these conditions (see the module docstring for the grouping)."""
    return [
        or_(*(and_(*(condition_sql(term, dialect) for term in run)) for run in _runs(chain)))
        for chain in _chains(conditions)
    ]


def substring_bounded(conditions: Sequence[Condition], dialect: Dialect) -> bool:
    """True when every matching row is among one substring-index lookup's hits.

    That holds when a condition answered by the FTS5 index is AND-ed with everything else: then
    the matches are few enough to count and order in one pass (see store/listing.py).
    """
    return any(
        len(runs) == 1 and any(uses_fts(term, dialect) for term in runs[0])
        for runs in (_runs(chain) for chain in _chains(conditions))
    )


def _chains(conditions: Sequence[Condition]) -> list[list[Condition]]:
    by_field: dict[str, list[Condition]] = {}
    for condition in conditions:
        by_field.setdefault(condition.field, []).append(condition)
    shared_or = [term for terms in by_field.values() if terms[0].any_of for term in terms]
    chains = [terms for terms in by_field.values() if not terms[0].any_of]
    return [shared_or, *chains] if shared_or else chains


def _runs(chain: Sequence[Condition]) -> list[list[Condition]]:
    """The chain's AND-runs, which are OR-ed: `a, b, $or:c` is `[[a, b], [c]]`."""
    runs: list[list[Condition]] = [[chain[0]]]
    for term in chain[1:]:
        if term.any_of:
            runs.append([term])
        else:
            runs[-1].append(term)
    return runs


def condition_sql(condition: Condition, dialect: Dialect) -> ColumnElement[bool]:
    col = _column(condition.field, dialect)
    values = condition.values
    expr: ColumnElement[bool]
    match condition.op:
        case "$null":
            expr = col.is_(None)
        case "$eq":
            expr = col == _one(condition)
        case "$in":
            expr = col.in_(values)
        case "$gt":
            expr = col > _one(condition)
        case "$gte":
            expr = col >= _one(condition)
        case "$lt":
            expr = col < _one(condition)
        case "$lte":
            expr = col <= _one(condition)
        case "$btw":
            if len(values) != 2:
                raise ValueError(f"$btw takes two values, got {values!r}")
            expr = col.between(values[0], values[1])
        case "$contains":
            expr = _contains(condition, dialect)
        case "$ilike":
            expr = _ilike(condition, dialect)
        case "$sw":
            expr = _starts_with(condition, dialect)
    return not_(expr) if condition.negate else expr


def sort_keys(sort: Sequence[tuple[str, SortDir]]) -> list[tuple[str, SortDir]]:
    """The sort as applied: the requested keys, then `id` so equal keys come in a stable order.

    The id follows the direction of the last key: an index on (account, key) then also yields the
    id order (SQLite's indexes end with the rowid; PostgreSQL's include the id where it matters).
    """
    keys = list(sort)
    if not any(field == "id" for field, _ in keys):
        keys.append(("id", keys[-1][1] if keys else "DESC"))
    return keys


def order_by(sort: Sequence[tuple[str, SortDir]]) -> list[UnaryExpression[object]]:
    """ORDER BY terms for `sort_keys(sort)`.

    NULL sorts as smaller than any value (first ascending, last descending) on both databases: that
    is SQLite's native order, and PostgreSQL's indexes on nullable columns are built NULLS FIRST.
    """
    terms: list[UnaryExpression[object]] = []
    for field, direction in sort_keys(sort):
        col = _column(field)
        nullable = field in NULLABLE_FIELDS
        if direction == "ASC":
            terms.append(col.asc().nulls_first() if nullable else col.asc())
        else:
            terms.append(col.desc().nulls_last() if nullable else col.desc())
    return terms


def _column(field: str, dialect: Dialect | None = None) -> ColumnElement[object]:
    if field.startswith(METADATA_PREFIX) and dialect is not None:
        return _metadata_text(field.removeprefix(METADATA_PREFIX), dialect)
    try:
        return API_COLUMNS[field]
    except KeyError:
        raise ValueError(f"unknown CDR field {field!r}") from None


def _metadata_text(key: str, dialect: Dialect) -> ColumnElement[Any]:
    """The string value of `key` in the metadata column's JSON, else NULL, on both databases.

    Only strings: SQLite's json_extract gives a number as a number and PostgreSQL's ->> as text,
    so a number would match `$eq:5` on one and not the other. The key is a parameter, never SQL.
    """
    col = cdr.c.metadata
    if dialect == "sqlite":
        path = '$."' + key + '"'  # keys are [A-Za-z0-9_-]: nothing to escape in the path
        return case((func.json_type(col, path) == "text", func.json_extract(col, path)), else_=None)
    document = cast(col, JSONB)
    value = case((func.jsonb_typeof(document[key]) == "string", document[key].astext), else_=None)
    return collate(value, "C")  # byte order, as the text columns compare


def _one(condition: Condition) -> FilterValue:
    if len(condition.values) != 1:
        raise ValueError(f"{condition.op} takes one value, got {condition.values!r}")
    return condition.values[0]


def _text(condition: Condition) -> str:
    value = _one(condition)
    if not isinstance(value, str):
        raise ValueError(f"{condition.op} on {condition.field} needs text, got {value!r}")
    return value


def _escape_like(value: str) -> str:
    return (
        value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def _fts_candidates(value: str) -> ColumnElement[bool]:
    """Rows whose destination contains `value`, ignoring case, found through the FTS5 trigram index.

    A phrase of trigrams matches exactly the texts containing it as a substring (case folded).
    """
    phrase = '"' + value.replace('"', '""') + '"'
    hits = select(destination_fts.c.rowid).where(destination_fts.c.destination.match(phrase))
    return cdr.c.id.in_(hits)


def uses_fts(condition: Condition, dialect: Dialect) -> bool:
    """Whether this condition is answered through SQLite's FTS5 trigram index on destination."""
    value = condition.values[0] if len(condition.values) == 1 else None
    return (
        dialect == "sqlite"
        and condition.field == "destination"
        and condition.op in ("$contains", "$ilike")
        # A negated search matches most rows: an index of the matching ones does not help.
        and not condition.negate
        and isinstance(value, str)
        and len(value) >= FTS_MIN_CHARS
    )


def _contains(condition: Condition, dialect: Dialect) -> ColumnElement[bool]:
    col = _column(condition.field, dialect)
    value = _text(condition)
    if uses_fts(condition, dialect):
        # The trigram index folds case, so it decides alone only when there is no case to fold.
        candidates = _fts_candidates(value)
        return candidates if _caseless(value) else and_(candidates, func.instr(col, value) > 0)
    if dialect == "sqlite":
        return func.instr(col, value) > 0  # SQLite's LIKE ignores ASCII case; instr does not
    return col.like("%" + _escape_like(value) + "%", escape=LIKE_ESCAPE)  # pg_trgm serves it


def _ilike(condition: Condition, dialect: Dialect) -> ColumnElement[bool]:
    col = _column(condition.field, dialect)
    value = _text(condition)
    # ILIKE on PostgreSQL (pg_trgm serves it), lower(x) LIKE lower(y) on SQLite.
    exact = col.ilike("%" + _escape_like(value) + "%", escape=LIKE_ESCAPE)
    if uses_fts(condition, dialect):
        # lower() folds ASCII only, the trigram index all of Unicode: equal on ASCII text.
        candidates = _fts_candidates(value)
        return candidates if value.isascii() else and_(candidates, exact)
    return exact


def _caseless(value: str) -> bool:
    """True when folding case cannot change `value` (digits, '+', '@'...)."""
    return value.lower() == value and value.upper() == value


def _starts_with(condition: Condition, dialect: Dialect) -> ColumnElement[bool]:
    col = _column(condition.field, dialect)
    value = _text(condition)
    if value and _caseless(value):
        # Nothing to fold (digits, '+'): a byte range, which a B-tree index on the column serves.
        upper = _successor(value)
        lower_bound = col >= value
        return lower_bound if upper is None else and_(lower_bound, col < upper)
    return col.ilike(_escape_like(value) + "%", escape=LIKE_ESCAPE)


def _successor(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (code-point order)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            following = last + 1 if last + 1 != 0xD800 else 0xE000  # surrogates cannot be stored
            return "".join(chars) + chr(following)
    return None
