from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from servicekit.migrations import (
    KIT_MIGRATIONS,
    Migration,
    MigrationError,
    load_migrations,
    migration_sources,
    pending,
)


class RecordedMigrations:
    """Stands in for a connection to a schema whose schema_migrations holds `rows`."""

    def __init__(self, rows: list[Migration] | None) -> None:
        self._rows = rows

    async def fetchval(self, query: str, *args: Any) -> Any:
        assert "to_regclass" in query
        return self._rows is not None

    async def fetch(self, query: str, *args: Any) -> list[dict[str, str]]:
        assert self._rows is not None, "schema_migrations read although it does not exist"
        return [
            {"source": m.source, "version": m.version, "checksum": m.checksum} for m in self._rows
        ]


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


@pytest.mark.parametrize(
    "name",
    [
        "1_things.sql",
        "0001-things.sql",
        "0001_Things.sql",
        "things.sql",
        "00001_things.sql",
        "0001_.sql",
    ],
)
def test_badly_named_migration_file_is_refused(tmp_path: Path, name: str) -> None:
    write(tmp_path, **{"0001_ok.sql": "SELECT 1;", name: "SELECT 2;"})

    with pytest.raises(MigrationError, match=r"NNNN_snake_name\.sql"):
        load_migrations({"service": tmp_path})


def test_migrations_load_kit_first_then_in_file_name_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        **{
            "0010_later.sql": "SELECT 10;",
            "0002_second.sql": "SELECT 2;",
            "0001_first.sql": "SELECT 1;",
            "notes.txt": "not a migration",
        },
    )

    found = load_migrations(migration_sources(tmp_path))

    kit = [m.version for m in found if m.source == "servicekit"]
    assert kit == sorted(p.stem for p in KIT_MIGRATIONS.glob("*.sql"))
    assert kit
    assert [(m.source, m.version) for m in found[len(kit) :]] == [
        ("service", "0001_first"),
        ("service", "0002_second"),
        ("service", "0010_later"),
    ]
    assert found[-1].sql == "SELECT 10;"


def test_checksum_follows_the_sql_text() -> None:
    a = Migration("service", "0001_a", "CREATE TABLE a (id int);")

    assert a.checksum == Migration("other", "0009_b", "CREATE TABLE a (id int);").checksum
    assert a.checksum != Migration("service", "0001_a", "CREATE TABLE a (id bigint);").checksum


async def test_everything_is_pending_on_a_fresh_schema() -> None:
    found = [
        Migration("service", "0001_a", "SELECT 1;"),
        Migration("service", "0002_b", "SELECT 2;"),
    ]

    assert await pending(RecordedMigrations(None), found) == found  # type: ignore[arg-type]


async def test_only_unapplied_migrations_are_pending() -> None:
    first = Migration("service", "0001_a", "SELECT 1;")
    second = Migration("service", "0002_b", "SELECT 2;")

    todo = await pending(RecordedMigrations([first]), [first, second])  # type: ignore[arg-type]

    assert todo == [second]


async def test_same_version_from_another_source_is_still_pending() -> None:
    kit = Migration("servicekit", "0001_a", "SELECT 1;")
    service = Migration("service", "0001_a", "SELECT 1;")

    todo = await pending(RecordedMigrations([kit]), [kit, service])  # type: ignore[arg-type]

    assert todo == [service]


async def test_applied_migration_edited_afterwards_is_refused() -> None:
    applied = Migration("service", "0001_a", "CREATE TABLE a (id int);")
    edited = Migration("service", "0001_a", "CREATE TABLE a (id bigint);")
    new = Migration("service", "0002_b", "SELECT 2;")

    with pytest.raises(MigrationError, match="service/0001_a was edited"):
        await pending(RecordedMigrations([applied]), [edited, new])  # type: ignore[arg-type]
