from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from servicekit import migrations
from servicekit.migrations import MigrationError
from servicekit.testing import Infra

KIT = [("servicekit", p.stem) for p in sorted(migrations.KIT_MIGRATIONS.glob("*.sql"))]

pytestmark = pytest.mark.integration

# Each would fail if run a second time: the table exists, the key is taken.
FILES = {
    "0001_things.sql": "CREATE TABLE things (id int PRIMARY KEY, name text NOT NULL);",
    "0002_first_thing.sql": "INSERT INTO things VALUES (1, 'first');",
}


@pytest.fixture
async def scratch_dsn(infra: Infra) -> AsyncIterator[str]:
    """A throwaway login role owning a schema of the same name, like a service's."""
    name = f"scratch_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    admin = await asyncpg.connect(infra.admin_dsn())
    try:
        await admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        await admin.execute(f"GRANT CONNECT ON DATABASE {infra.database} TO {name}")
        await admin.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
        await admin.execute(
            f"ALTER ROLE {name} IN DATABASE {infra.database} SET search_path = {name}"
        )
        yield infra.cluster.dsn(name, password, infra.database)
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await admin.execute(f"DROP OWNED BY {name}")
        await admin.execute(f"DROP ROLE {name}")
        await admin.close()


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


def load(directory: Path) -> list[migrations.Migration]:
    return migrations.load_migrations(migrations.migration_sources(directory))


async def recorded(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    found = await conn.fetch("SELECT source, version FROM schema_migrations ORDER BY applied_at")
    return [(r["source"], r["version"]) for r in found]


async def test_applying_twice_applies_nothing_the_second_time(
    scratch_dsn: str, tmp_path: Path
) -> None:
    found = load(write(tmp_path / "m", FILES))
    conn = await asyncpg.connect(scratch_dsn)
    try:
        first = await migrations.apply(conn, found)
        second = await migrations.apply(conn, load(tmp_path / "m"))

        assert [(m.source, m.version) for m in first] == [
            *KIT,
            ("service", "0001_things"),
            ("service", "0002_first_thing"),
        ]
        assert second == []
        assert await recorded(conn) == [(m.source, m.version) for m in first]
        assert await conn.fetchval("SELECT count(*) FROM things") == 1
        assert await migrations.pending(conn, found) == []
    finally:
        await conn.close()


async def test_concurrent_apply_runs_each_migration_once(scratch_dsn: str, tmp_path: Path) -> None:
    found = load(write(tmp_path / "m", FILES))
    conns = [await asyncpg.connect(scratch_dsn) for _ in range(5)]
    try:
        results = await asyncio.gather(*(migrations.apply(c, found) for c in conns))

        assert sorted(len(r) for r in results) == [0, 0, 0, 0, len(found)]
        assert await conns[0].fetchval("SELECT count(*) FROM things") == 1
        assert len(await recorded(conns[0])) == len(found)
        # Every caller released the lock: another apply does not wait forever.
        assert await asyncio.wait_for(migrations.apply(conns[1], found), 5) == []
    finally:
        for c in conns:
            await c.close()


async def test_edited_applied_migration_is_refused_and_nothing_runs(
    scratch_dsn: str, tmp_path: Path
) -> None:
    directory = write(tmp_path / "m", FILES)
    conn = await asyncpg.connect(scratch_dsn)
    try:
        await migrations.apply(conn, load(directory))
        write(
            directory,
            {
                "0001_things.sql": "CREATE TABLE things (id bigint PRIMARY KEY, name text);",
                "0003_more.sql": "CREATE TABLE more_things (id int);",
            },
        )

        with pytest.raises(MigrationError, match="service/0001_things was edited"):
            await migrations.apply(conn, load(directory))

        assert await conn.fetchval("SELECT to_regclass('more_things')") is None
        assert len(await recorded(conn)) == len(KIT) + 2
        # Reverting the edit works again: the lock was released despite the error.
        write(directory, {"0001_things.sql": FILES["0001_things.sql"]})
        (directory / "0003_more.sql").unlink()
        assert await asyncio.wait_for(migrations.apply(conn, load(directory)), 5) == []
    finally:
        await conn.close()


async def test_failing_migration_leaves_no_trace_and_is_retried(
    scratch_dsn: str, tmp_path: Path
) -> None:
    directory = write(
        tmp_path / "m", {**FILES, "0003_broken.sql": "CREATE TABLE t (id int); SELECT 1/0;"}
    )
    conn = await asyncpg.connect(scratch_dsn)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrations.apply(conn, load(directory))

        assert await conn.fetchval("SELECT to_regclass('t')") is None
        assert [v for _, v in await recorded(conn)][-1] == "0002_first_thing"
        write(directory, {"0003_broken.sql": "CREATE TABLE t (id int);"})
        applied = await migrations.apply(conn, load(directory))
        assert [m.version for m in applied] == ["0003_broken"]
    finally:
        await conn.close()
