"""Cursors: one this API made continues the list; anything else is a 422 naming `cursor`."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from servicekit.pagination import InvalidListParameter, Query, Sort, SortColumn

SORTS = {
    "name": SortColumn("name", "text"),
    "ref": SortColumn("ref", "uuid"),
    "created_at": SortColumn("created_at", "timestamptz"),
}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def page_sql(cursor: str, sort: str = "name") -> Query:
    query = Query("SELECT * FROM things")
    query.page_sql(Sort.parse(sort, SORTS, "name"), cursor, 10, id_column="id")
    return query


def test_a_cursor_continues_after_its_row() -> None:
    last_id = str(uuid.uuid4())
    query = page_sql(cursor_of(["name", "Acme", last_id]))
    assert query.args[:2] == ["Acme", last_id]


FORGED: dict[str, tuple[str, str]] = {
    "id-a-number": (cursor_of(["name", "a", 5]), "name"),
    "id-a-list": (cursor_of(["name", "a", [1]]), "name"),
    "id-an-object": (cursor_of(["name", "a", {"hex": "0" * 32}]), "name"),
    "sort-a-list": (cursor_of([["name"], "a", str(uuid.uuid4())]), "name"),
    "uuid-value-a-number": (cursor_of(["ref", 5, str(uuid.uuid4())]), "ref"),
    "nested-too-deeply": (
        base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode(),
        "name",
    ),
}


@pytest.mark.parametrize(("cursor", "sort"), FORGED.values(), ids=FORGED)
def test_forged_cursor_is_the_invalid_cursor_problem(cursor: str, sort: str) -> None:
    with pytest.raises(InvalidListParameter) as caught:
        page_sql(cursor, sort)

    assert caught.value.status == 422
    assert caught.value.extensions["errors"] == [
        {"parameter": "cursor", "in": "query", "detail": "not a cursor this API returned"}
    ]
