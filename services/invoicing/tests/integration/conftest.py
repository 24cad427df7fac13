"""Invoicing on the real broker and Postgres, fed the events timecapture would publish."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import EventEnvelope
from contracts.events.clients import ClientState
from contracts.events.projects import ProjectState
from contracts.events.time_entries import TimeEntryState
from contracts.registry import build_event, encode_event, event_key, spec_for
from invoicing.app import define
from invoicing.settings import InvoicingSettings
from servicekit.clock import utc_now
from servicekit.identity import IDENTITY_HEADER, Identity, Role
from servicekit.service import Runtime, create_app
from servicekit.testing import Infra, eventually, serve


@dataclass
class Clock:
    """The service's clock, moved by tests (overdue, recurring)."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset


@dataclass
class Invoicing:
    infra: Infra
    url: str
    runtime: Runtime
    producer: AIOKafkaProducer
    clock: Clock
    _seen: set[uuid.UUID] = field(default_factory=set)

    def http(self, tenant_id: uuid.UUID, role: Role = "admin") -> httpx.AsyncClient:
        token = self.infra.token(Identity(tenant_id, f"tester-{role}", role))
        return httpx.AsyncClient(base_url=self.url, headers={IDENTITY_HEADER: token}, timeout=15)

    async def publish(self, tenant_id: uuid.UUID, event_type: str, payload: Any) -> uuid.UUID:
        envelope: EventEnvelope[Any] = build_event(
            event_type,
            payload,
            tenant_id=tenant_id,
            producer="test",
            event_id=uuid.uuid4(),
            occurred_at=datetime.now(UTC),
        )
        topic = spec_for(envelope.event_type, envelope.schema_version).topic
        await self.producer.send_and_wait(topic, encode_event(envelope), key=event_key(envelope))
        return envelope.event_id

    async def rows(self, tenant_id: uuid.UUID, query: str, *args: Any) -> list[Any]:
        return await self.infra.fetch_as_tenant("invoicing", tenant_id, query, *args)

    async def client(
        self,
        tenant_id: uuid.UUID,
        *,
        currency: str = "EUR",
        terms: int = 30,
        tax_rate_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        client_id = uuid.uuid4()
        state = ClientState(
            client_id=client_id,
            version=1,
            name=f"Client {str(client_id)[:8]}",
            currency=currency,
            payment_terms_days=terms,
            billing_address="1 Main St\nSpringfield",
            default_tax_rate_id=tax_rate_id,
        )
        await self.publish(tenant_id, "client.changed", state)
        await self._wait(tenant_id, "client_replicas", "client_id", client_id)
        return client_id

    async def project(
        self,
        tenant_id: uuid.UUID,
        client_id: uuid.UUID,
        *,
        increment: int = 1,
        mode: str = "nearest",
    ) -> uuid.UUID:
        project_id = uuid.uuid4()
        state = ProjectState(
            project_id=project_id,
            version=1,
            client_id=client_id,
            name=f"Project {str(project_id)[:8]}",
            code=None,
            rounding_increment_minutes=increment,
            rounding_mode=mode,
        )
        await self.publish(tenant_id, "project.changed", state)
        await self._wait(tenant_id, "project_replicas", "project_id", project_id)
        return project_id

    async def entry(
        self,
        tenant_id: uuid.UUID,
        project_id: uuid.UUID,
        *,
        started_at: datetime,
        minutes: int,
        member_id: uuid.UUID | None = None,
        task: str | None = None,
        billable: bool = True,
        entry_id: uuid.UUID | None = None,
        version: int = 1,
        event_type: str = "time_entry.logged",
    ) -> uuid.UUID:
        entry_id = entry_id or uuid.uuid4()
        state = TimeEntryState(
            entry_id=entry_id,
            version=version,
            member_id=member_id or uuid.UUID(int=1),
            project_id=project_id,
            task=task,
            description="work",
            started_at=started_at,
            ended_at=started_at + timedelta(minutes=minutes),
            duration_seconds=minutes * 60,
            billable=billable,
            tags=[],
        )
        await self.publish(tenant_id, event_type, state)

        async def at_version() -> bool:
            found = await self.rows(
                tenant_id, "SELECT version FROM ledger_entries WHERE entry_id = $1", entry_id
            )
            return bool(found) and found[0]["version"] == version

        await eventually(at_version, message=f"entry {entry_id} v{version} in the ledger")
        return entry_id

    async def _wait(self, tenant_id: uuid.UUID, table: str, column: str, value: Any) -> None:
        async def there() -> bool:
            found = await self.rows(tenant_id, f"SELECT 1 FROM {table} WHERE {column} = $1", value)
            return bool(found)

        await eventually(there, message=f"{table} row {value}")


@pytest.fixture(scope="module")
async def invoicing(infra: Infra) -> AsyncIterator[Invoicing]:
    clock = Clock()
    definition = define(
        infra.settings(
            InvoicingSettings,
            overdue_check_interval_s=0,
            billing_run_check_interval_s=0,
            recurring_check_interval_s=0,
        )
    )
    definition.clock = clock
    app = create_app(definition)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers)
    await producer.start()
    try:
        async with serve(app) as url:
            yield Invoicing(infra, url, app.state.runtime, producer, clock)
    finally:
        await producer.stop()
