"""Keyset-paginated lists of one aggregate table, with the filters each endpoint adds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from servicekit import rows
from servicekit.db import Connection
from servicekit.pagination import Page, Query, SortColumn, fetch_page

T = TypeVar("T")

# Only fields a row keeps for life, so an edit between two pages cannot move a row across the
# cursor (which would repeat or skip it). Names can change too; sorting by them is the
# exception users expect.
CREATED = {"created_at": SortColumn("created_at", "timestamptz")}
NAMED = {**CREATED, "name": SortColumn("name", "text")}


def query_of(table: str, cls: type[object]) -> Query:
    return Query(f"SELECT {', '.join(rows.columns(cls))} FROM {table}")


async def page(
    conn: Connection,
    q: Query,
    cls: type[T],
    *,
    sort: str | None,
    allowed: Mapping[str, SortColumn],
    default_sort: str,
    cursor: str | None,
    limit: int,
) -> Page[T]:
    return await fetch_page(
        conn,
        q,
        lambda r: rows.from_row(cls, r),
        sort=sort,
        allowed=allowed,
        default_sort=default_sort,
        cursor=cursor,
        limit=limit,
    )


async def newest_first(
    conn: Connection, q: Query, cls: type[T], *, sort: str | None, cursor: str | None, limit: int
) -> Page[T]:
    """A page of an append-mostly table: newest first, or sorted by `created_at` as asked."""
    return await page(
        conn,
        q,
        cls,
        sort=sort,
        allowed=CREATED,
        default_sort="-created_at",
        cursor=cursor,
        limit=limit,
    )


def search(q: Query, column: str, text: str | None) -> None:
    """Case-insensitive substring filter; LIKE wildcards in `text` match literally."""
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q.filter(f"{column} ILIKE {q.param('%' + escaped + '%')}")


def equals(q: Query, column: str, value: object | None) -> None:
    if value is not None:
        q.filter(f"{column} = {q.param(value)}")
