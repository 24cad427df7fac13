"""Rows of aggregate tables whose columns are a frozen dataclass's fields, one to one."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from servicekit.db import Connection
from servicekit.pagination import Row

T = TypeVar("T")


def columns(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def insert_sql(table: str, cls: type[Any]) -> str:
    """Insert of one row; a retry after a lost COMMIT inserts nothing (RETURNING no row)."""
    cols = columns(cls)
    placeholders = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders}) "
        "ON CONFLICT (tenant_id, id) DO NOTHING RETURNING true"
    )


def update_sql(table: str, cls: type[Any]) -> str:
    """Full-row update guarded by the version read under lock, so it can never go backwards."""
    cols = [c for c in columns(cls) if c not in ("tenant_id", "id", "created_at")]
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(cols, start=3))
    return f"UPDATE {table} SET {sets} WHERE tenant_id = $1 AND id = $2"


def update_args(obj: Any) -> list[Any]:
    skip = ("tenant_id", "id", "created_at")
    rest = [_param(getattr(obj, c)) for c in columns(type(obj)) if c not in skip]
    return [obj.tenant_id, obj.id, *rest]


def select_sql(table: str, cls: type[Any], *, lock: bool = False) -> str:
    # The tenant is named although RLS adds it: a table with a second, cross-tenant read
    # policy gets the two ORed, which no index can serve (decision 34).
    sql = (
        f"SELECT {', '.join(columns(cls))} FROM {table} "
        "WHERE tenant_id = current_tenant() AND id = $1"
    )
    return sql + " FOR UPDATE" if lock else sql


def values(obj: Any) -> list[Any]:
    return [_param(getattr(obj, c)) for c in columns(type(obj))]


def _param(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def from_row(cls: type[T], row: Row) -> T:
    """The dataclass of a row; arrays come back as lists and become tuples."""
    kwargs = {c: tuple(row[c]) if isinstance(row[c], list) else row[c] for c in columns(cls)}
    return cls(**kwargs)


async def insert(conn: Connection, table: str, obj: Any) -> bool:
    """False when the row is already stored (a retry after an unknown commit outcome)."""
    return bool(await conn.fetchval(insert_sql(table, type(obj)), *values(obj)))


async def update(conn: Connection, table: str, obj: Any) -> None:
    await conn.execute(update_sql(table, type(obj)), *update_args(obj))


async def fetch(conn: Connection, table: str, cls: type[T], row_id: Any, *, lock: bool) -> T | None:
    row = await conn.fetchrow(select_sql(table, cls, lock=lock), row_id)
    return None if row is None else from_row(cls, row)
