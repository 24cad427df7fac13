"""Forward-only SQL migrations: numbered files, applied in order under an advisory lock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from servicekit.db import Connection

KIT_MIGRATIONS = Path(__file__).parent / "migrations"
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    source      text        NOT NULL,
    version     text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, version)
)
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    source: str
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(sources: dict[str, Path]) -> list[Migration]:
    """Kit migrations first, then each named source, each in file-name order."""
    found: list[Migration] = []
    for source, directory in sources.items():
        for path in sorted(directory.glob("*.sql")):
            if not _FILE.match(path.name):
                raise MigrationError(f"{path}: migration files are named NNNN_snake_name.sql")
            found.append(Migration(source, path.stem, path.read_text()))
    return found


def migration_sources(service_dir: Path | None) -> dict[str, Path]:
    sources = {"servicekit": KIT_MIGRATIONS}
    if service_dir is not None:
        sources["service"] = service_dir
    return sources


async def _applied(conn: Connection) -> dict[tuple[str, str], str]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT source, version, checksum FROM schema_migrations")
    return {(r["source"], r["version"]): r["checksum"] for r in rows}


def _check_unchanged(migrations: list[Migration], applied: dict[tuple[str, str], str]) -> None:
    for m in migrations:
        recorded = applied.get((m.source, m.version))
        if recorded is not None and recorded != m.checksum:
            raise MigrationError(
                f"{m.source}/{m.version} was edited after it was applied; add a new file instead"
            )


async def pending(conn: Connection, migrations: list[Migration]) -> list[Migration]:
    applied = await _applied(conn)
    _check_unchanged(migrations, applied)
    return [m for m in migrations if (m.source, m.version) not in applied]


async def apply(conn: Connection, migrations: list[Migration]) -> list[Migration]:
    """Apply what is pending, one transaction per file; concurrent callers wait on the lock."""
    lock_key = await conn.fetchval("SELECT hashtext('billstream.migrations.' || current_schema())")
    await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        await conn.execute(_CREATE_TABLE)
        todo = await pending(conn, migrations)
        for m in todo:
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (source, version, checksum) VALUES ($1, $2, $3)",
                    m.source,
                    m.version,
                    m.checksum,
                )
        return todo
    finally:
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
        except BaseException:
            # A session lock left on a pooled connection would stall every other replica's
            # start-up: end the session (and the lock) instead.
            conn.terminate()
            raise
