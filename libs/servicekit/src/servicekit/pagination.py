"""Keyset (cursor) pagination with whitelisted sorting, shared by every list endpoint.

A cursor is opaque to clients: base64url JSON of the sort it belongs to and the last row's
sort value and id. Rows are ordered by (sort column, id), so pages never skip or repeat a
row when others are inserted between requests.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from servicekit.problems import ParameterInvalid

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "InvalidListParameter",
    "Page",
    "Query",
    "Row",
    "Sort",
    "SortColumn",
    "fetch_page",
    "page_of",
]

T = TypeVar("T")
U = TypeVar("U")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class InvalidListParameter(ParameterInvalid):
    """A list's query parameter (limit, cursor, sort, a filter) that cannot be used: the
    same problem shape as any query parameter's, under the slug clients already match."""

    slug = "invalid-list-parameter"
    title = "Invalid list parameter"


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one."""

    items: list[T]
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last.")

    def map(self, render: Callable[[T], U]) -> Page[U]:
        """The same page with each item rendered (a stored row into its response model)."""
        return Page[U](items=[render(i) for i in self.items], next_cursor=self.next_cursor)


@dataclass(frozen=True, slots=True)
class SortColumn:
    """A sortable NOT NULL column and the SQL type its cursor value is cast back to.

    Row comparison `(col, id) > (...)` is wrong for NULLs, so nullable columns are not sortable.
    """

    column: str
    sql_type: str


@dataclass(frozen=True, slots=True)
class Sort:
    """Parsed `sort` parameter: a whitelisted field, `-` prefix for descending."""

    name: str
    column: SortColumn
    descending: bool

    @classmethod
    def parse(cls, value: str | None, allowed: Mapping[str, SortColumn], default: str) -> Sort:
        raw = value or default
        name = raw.removeprefix("-")
        if name not in allowed:
            choices = ", ".join(sorted(allowed))
            raise InvalidListParameter(
                "sort", f"{raw!r} is not one of {choices} (prefix - to reverse)"
            )
        return cls(name, allowed[name], raw.startswith("-"))

    @property
    def token(self) -> str:
        return ("-" if self.descending else "") + self.name


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


@dataclass
class Query:
    """A SELECT with numbered parameters, filters, then keyset pagination."""

    select: str
    where: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def filter(self, condition: str) -> None:
        self.where.append(condition)

    def page_sql(self, sort: Sort, cursor: str | None, limit: int, *, id_column: str) -> str:
        """The SQL of one page (one row more than `limit`, to know whether more follow)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidListParameter("limit", f"must be between 1 and {MAX_LIMIT}")
        if cursor is not None:
            value, last_id = _decode_cursor(cursor, sort)
            op = "<" if sort.descending else ">"
            col = sort.column
            self.filter(
                f"({col.column}, {id_column}) {op} "
                f"({self.param(value)}::text::{col.sql_type}, {self.param(last_id)}::uuid)"
            )
        direction = "DESC" if sort.descending else "ASC"
        where = f" WHERE {' AND '.join(self.where)}" if self.where else ""
        return (
            f"{self.select}{where} ORDER BY {sort.column.column} {direction}, "
            f"{id_column} {direction} LIMIT {self.param(limit + 1)}"
        )


class Row(Protocol):
    """A fetched row: an asyncpg Record or any mapping of column names."""

    def __getitem__(self, key: str, /) -> Any: ...


def page_of(
    rows: Sequence[Row],
    sort: Sort,
    limit: int,
    to_item: Callable[[Row], T],
    *,
    sort_key: str | None = None,
    id_key: str = "id",
) -> Page[T]:
    """Turn the rows of `Query.page_sql` into a page with the next cursor."""
    more = len(rows) > limit
    kept = rows[:limit]
    next_cursor = None
    if more and kept:
        last = kept[-1]
        next_cursor = _encode_cursor(sort, last[sort_key or sort.name], last[id_key])
    return Page[T](items=[to_item(r) for r in kept], next_cursor=next_cursor)


class _Fetcher(Protocol):
    async def fetch(self, query: str, *args: Any) -> Sequence[Any]: ...


async def fetch_page(
    conn: _Fetcher,
    query: Query,
    to_item: Callable[[Row], T],
    *,
    sort: str | None,
    allowed: Mapping[str, SortColumn],
    default_sort: str,
    cursor: str | None,
    limit: int,
) -> Page[T]:
    """One page of `query`, sorted by the caller's whitelisted choice, with its next cursor."""
    parsed = Sort.parse(sort, allowed, default_sort)
    found = await conn.fetch(query.page_sql(parsed, cursor, limit, id_column="id"), *query.args)
    return page_of(found, parsed, limit, to_item)


def _encode_cursor(sort: Sort, value: Any, last_id: UUID) -> str:
    raw = json.dumps([sort.token, _jsonable(value), str(last_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: Sort) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        token, value, last_id = json.loads(raw)
        # UUID() of a non-string raises AttributeError, not TypeError: checked first.
        if not isinstance(token, str) or not isinstance(last_id, str):
            raise TypeError(last_id)
        UUID(last_id)
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise InvalidListParameter("cursor", "not a cursor this API returned") from None
    if token != sort.token:
        raise InvalidListParameter("cursor", f"was made for sort={token}, not sort={sort.token}")
    if value is None:
        raise InvalidListParameter("cursor", "cannot continue after a null sort value")
    parse = _CURSOR_VALUE.get(sort.column.sql_type, str)
    try:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise TypeError(value)
        # Checked here, so a forged value is a 422 and never reaches the SQL cast.
        parse(value)
    except (TypeError, ValueError):
        raise InvalidListParameter("cursor", "not a cursor this API returned") from None
    return str(value), str(last_id)


def _strict_datetime(value: str) -> datetime:
    if not isinstance(value, str):
        raise TypeError(value)
    parsed = datetime.fromisoformat(value)
    offset = parsed.utcoffset()
    # Postgres accepts offsets up to 15:59 only.
    if offset is None or abs(offset) >= timedelta(hours=16):
        raise ValueError(value)
    return parsed


def _uuid(value: str) -> UUID:
    if not isinstance(value, str):
        raise TypeError(value)
    return UUID(value)


def _text(value: str) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise TypeError(value)
    return value


_CURSOR_VALUE: dict[str, Callable[[Any], object]] = {
    "timestamptz": _strict_datetime,
    "date": date.fromisoformat,
    "text": _text,
    "uuid": _uuid,
    "integer": int,
    "bigint": int,
}
