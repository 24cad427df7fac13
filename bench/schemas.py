"""Service schemas migrated from the bench itself, so a bench can write before (or while)
the services start; the services find them applied."""

from __future__ import annotations

import asyncpg

from servicekit import migrations
from servicekit.localinfra.catalog import repo_root
from servicekit.testing import Infra


async def migrate(infra: Infra, services: tuple[str, ...] = ("timecapture", "invoicing")) -> None:
    for service in services:
        conn = await asyncpg.connect(infra.dsn(service))
        try:
            directory = repo_root() / "services" / service / "migrations"
            found = migrations.load_migrations(migrations.migration_sources(directory))
            await migrations.apply(conn, found)
        finally:
            await conn.close()
