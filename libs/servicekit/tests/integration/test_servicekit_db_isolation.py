from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from servicekit import db
from servicekit.testing import Infra
from timecapture.db import time_entries as rows

pytestmark = pytest.mark.integration


async def test_service_role_cannot_read_another_schema(infra: Infra, migrated: None) -> None:
    admin = await asyncpg.connect(infra.admin_dsn())
    try:
        # The table exists, so only the role's privileges can stop the reads below.
        assert await admin.fetchval("SELECT to_regclass('timecapture.time_entries')") is not None
    finally:
        await admin.close()

    conn = await asyncpg.connect(infra.dsn("invoicing"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM timecapture.time_entries")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM timecapture.outbox")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.sneaky (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE SCHEMA sneaky")
        # Its own schema stays usable.
        assert await conn.fetchval("SELECT current_schema()") == "invoicing"
        await conn.fetchval("SELECT count(*) FROM inbox")
    finally:
        await conn.close()


async def test_a_service_role_gives_its_password_on_the_socket_too(
    infra: Infra, migrated: None
) -> None:
    # Services reach the local cluster over its Unix socket (decision 39); trust is only the
    # superuser's there, so the socket is no way around another service's password.
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(infra.cluster.dsn("payments", "not-its-password", infra.database))
    conn = await asyncpg.connect(infra.dsn("payments"))
    try:
        assert await conn.fetchval("SELECT inet_server_addr() IS NULL")  # the socket indeed
    finally:
        await conn.close()


async def test_rows_are_visible_and_writable_only_in_their_tenant(
    infra: Infra, tc_pool: db.Pool, make: Any
) -> None:
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    a_entries = [make.entry(tenant_a), make.entry(tenant_a)]
    b_entry = make.entry(tenant_b)
    async with db.tenant_transaction(tc_pool, tenant_a) as conn:
        for entry in a_entries:
            await rows.insert(conn, entry)
    async with db.tenant_transaction(tc_pool, tenant_b) as conn:
        await rows.insert(conn, b_entry)

    async with tc_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM time_entries") == 0

    async with db.tenant_transaction(tc_pool, tenant_a) as conn:
        seen = await conn.fetch("SELECT tenant_id, id FROM time_entries")
        assert {(r["tenant_id"], r["id"]) for r in seen} == {(tenant_a, e.id) for e in a_entries}
        assert await conn.execute(
            "UPDATE time_entries SET version = 9 WHERE id = $1", b_entry.id
        ) == ("UPDATE 0")

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with db.tenant_transaction(tc_pool, tenant_a) as conn:
            await rows.insert(conn, make.entry(tenant_b))
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with db.tenant_transaction(tc_pool, tenant_a) as conn:
            await conn.execute(
                "UPDATE time_entries SET tenant_id = $1 WHERE id = $2", tenant_b, a_entries[0].id
            )

    async with db.tenant_transaction(tc_pool, tenant_b) as conn:
        seen = await conn.fetch("SELECT id, version FROM time_entries")
        assert [(r["id"], r["version"]) for r in seen] == [(b_entry.id, 1)]


async def test_tenant_scope_ends_with_its_transaction(
    infra: Infra, tc_pool: db.Pool, make: Any
) -> None:
    tenant = uuid.uuid4()
    async with db.tenant_transaction(tc_pool, tenant) as conn:
        await rows.insert(conn, make.entry(tenant))

    conn = await asyncpg.connect(infra.dsn("timecapture"))
    try:
        async with conn.transaction():
            await db.set_tenant(conn, tenant)
            assert await conn.fetchval("SELECT count(*) FROM time_entries") == 1
        # Same session, next transaction: a pooled connection must not keep the tenant.
        assert await conn.fetchval("SELECT current_tenant()") is None
        assert await conn.fetchval("SELECT count(*) FROM time_entries") == 0
    finally:
        await conn.close()
