"""Creates the database, one login role and one schema per service, and the topics.

Used by `make run`, by the pytest fixtures and by docker-compose's bootstrap job:
`python -m servicekit.localinfra.bootstrap --admin-dsn ... --database billstream`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

import asyncpg

from servicekit.localinfra.catalog import DATABASE, DATABASE_SERVICES, ServiceEntry


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe identifier {name!r}")
    return f'"{name}"'


async def create_database(admin_dsn: str, database: str, *, fresh: bool = False) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        if fresh:
            await conn.execute(f"DROP DATABASE IF EXISTS {_ident(database)} WITH (FORCE)")
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f"CREATE DATABASE {_ident(database)}")
        await conn.execute(f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC")
    finally:
        await conn.close()


async def create_service_roles(
    admin_dsn_for_db: str, database: str, services: Sequence[ServiceEntry]
) -> None:
    """Each role owns its schema and nothing else: it cannot even see another's schema."""
    conn = await asyncpg.connect(admin_dsn_for_db)
    try:
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for svc in services:
            role = _ident(svc.name)
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", svc.name)
            if not exists:
                await conn.execute(f"CREATE ROLE {role} LOGIN")
            # Passwords are literals in DDL; quote_literal keeps them safe.
            password = await conn.fetchval("SELECT quote_literal($1)", svc.password())
            await conn.execute(
                f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS "
                f"PASSWORD {password}"
            )
            # TEMPORARY: bulk imports COPY into a temporary table (COPY refuses tables with RLS).
            await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {_ident(database)} TO {role}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {role} AUTHORIZATION {role}")
            await conn.execute(f"REVOKE ALL ON SCHEMA {role} FROM PUBLIC")
            await conn.execute(
                f"ALTER ROLE {role} IN DATABASE {_ident(database)} SET search_path = {role}"
            )
    finally:
        await conn.close()


async def bootstrap_database(
    admin_dsn: str, admin_dsn_for_db: str, database: str, *, fresh: bool = False
) -> None:
    await create_database(admin_dsn, database, fresh=fresh)
    await create_service_roles(admin_dsn_for_db, database, DATABASE_SERVICES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-dsn", required=True, help="superuser DSN (any database)")
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--kafka", help="bootstrap servers: also create the platform topics")
    args = parser.parse_args()
    base, _, query = args.admin_dsn.partition("?")
    db_dsn = base.rsplit("/", 1)[0] + f"/{args.database}" + (f"?{query}" if query else "")
    asyncio.run(bootstrap_database(args.admin_dsn, db_dsn, args.database))
    if args.kafka:
        from servicekit.localinfra.kafka import create_topics, platform_topics

        asyncio.run(create_topics(args.kafka, platform_topics()))


if __name__ == "__main__":
    main()
