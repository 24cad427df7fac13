"""What time capture wrote for one tenant: rows, unpublished outbox rows, published events."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.envelope import EventEnvelope
from contracts.registry import decode_event
from contracts.topics import TOPICS
from servicekit import migrations
from servicekit.identity import IDENTITY_HEADER, Identity
from servicekit.testing import Infra, eventually
from timecapture.app import MIGRATIONS

TOPIC = "time-entry-logged"


@dataclass(frozen=True)
class Published:
    key: bytes
    headers: dict[str, str]
    event: EventEnvelope[Any]


@dataclass(frozen=True)
class Catalog:
    """A client, a project of it and a member of one tenant, ready for time entries."""

    tenant_id: uuid.UUID
    client_id: uuid.UUID
    project_id: uuid.UUID
    member_id: uuid.UUID


_HOURS_BACK = itertools.count()

_SEED = """
WITH c AS (
    INSERT INTO clients (tenant_id, id, name, currency, payment_terms_days, created_at, updated_at)
    VALUES (current_tenant(), $1::uuid, 'Client ' || $1::uuid::text, 'EUR', 30, now(), now())
), p AS (
    INSERT INTO projects (tenant_id, id, client_id, name, created_at, updated_at)
    VALUES (current_tenant(), $2, $1, 'Project ' || $2::uuid::text, now(), now())
), u AS (
    INSERT INTO project_usage (tenant_id, project_id) VALUES (current_tenant(), $2)
)
INSERT INTO members (tenant_id, id, name, email, role, principal, cost_rate_minor, cost_currency,
                     created_at, updated_at)
VALUES (current_tenant(), $3, 'Member', $3::uuid::text || '@example.com', 'member', $4, 6000, 'EUR',
        now(), now())
"""


@dataclass(frozen=True)
class TimecaptureProbe:
    infra: Infra

    def headers(self, tenant_id: uuid.UUID) -> dict[str, str]:
        return {IDENTITY_HEADER: self.infra.token(Identity(tenant_id, "tester", "admin"))}

    async def migrated(self) -> None:
        conn = await asyncpg.connect(self.infra.dsn("timecapture"))
        try:
            await migrations.apply(
                conn, migrations.load_migrations(migrations.migration_sources(MIGRATIONS))
            )
        finally:
            await conn.close()

    async def catalog(self, tenant_id: uuid.UUID, principal: str | None = None) -> Catalog:
        """Seed rows straight in SQL (the catalogue API has its own tests)."""
        await self.migrated()
        found = Catalog(tenant_id, uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
        await self.infra.fetch_as_tenant(
            "timecapture",
            tenant_id,
            _SEED,
            found.client_id,
            found.project_id,
            found.member_id,
            principal,
        )
        return found

    @staticmethod
    def entry_body(catalog: Catalog, **overrides: Any) -> dict[str, Any]:
        # Each body starts an hour before the previous one, so one member's entries never overlap.
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4 + next(_HOURS_BACK))
        body: dict[str, Any] = {
            "member_id": str(catalog.member_id),
            "project_id": str(catalog.project_id),
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=50)).isoformat(),
            "task": "planning",
            "description": "sprint planning",
            "tags": ["internal"],
        }
        body.update(overrides)
        return body

    async def entries(self, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self.infra.fetch_as_tenant(
            "timecapture", tenant_id, "SELECT * FROM time_entries ORDER BY created_at, id"
        )

    async def outbox(self, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
        """Unpublished outbox rows of one tenant (the outbox itself is not tenant-scoped)."""
        conn = await asyncpg.connect(self.infra.dsn("timecapture"))
        try:
            return await conn.fetch(
                "SELECT * FROM outbox"
                " WHERE convert_from(value, 'UTF8')::jsonb ->> 'tenant_id' = $1 ORDER BY id",
                str(tenant_id),
            )
        finally:
            await conn.close()

    async def outbox_drained(self, tenant_id: uuid.UUID) -> None:
        async def drained() -> bool:
            return not await self.outbox(tenant_id)

        await eventually(drained, timeout=10.0, message="outbox drained")

    async def published(self, tenant_id: uuid.UUID, topic: str = TOPIC) -> list[Published]:
        """Every event of `tenant_id` on `topic` so far, read from the start, in (partition,
        offset) order: the order of batches across partitions is the fetches' and differs
        from one read to the next."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.infra.kafka.bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(TOPICS[topic].partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found: list[tuple[int, int, Published]] = []
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        # Other suites put poison messages on these topics too: match loosely
                        # first, then decode this tenant's events strictly.
                        try:
                            loose = json.loads(record.value)
                        except ValueError:
                            continue
                        if not isinstance(loose, dict) or loose.get("tenant_id") != str(tenant_id):
                            continue
                        headers = {k: v.decode() for k, v in record.headers or ()}
                        published = Published(record.key, headers, decode_event(record.value))
                        found.append((record.partition, record.offset, published))
            return [published for _, _, published in sorted(found, key=lambda f: f[:2])]
        finally:
            await consumer.stop()

    async def events_on(
        self, topic: str, tenant_id: uuid.UUID
    ) -> list[tuple[bytes, EventEnvelope[Any]]]:
        """(key, event) of `published` on `topic`."""
        return [(p.key, p.event) for p in await self.published(tenant_id, topic)]

    async def assert_nothing_written(self, tenant_id: uuid.UUID) -> None:
        assert await self.entries(tenant_id) == []
        # Outbox first, then the topic: the relay publishes a row before its removal commits.
        assert await self.outbox(tenant_id) == []
        assert await self.published(tenant_id) == []


@pytest.fixture
def probe(infra: Infra) -> TimecaptureProbe:
    return TimecaptureProbe(infra)


@pytest.fixture
async def catalog(probe: TimecaptureProbe, tenant_id: uuid.UUID) -> Catalog:
    return await probe.catalog(tenant_id, principal="tester")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
