"""A payments service on the real broker and Postgres, fed the invoice events invoicing
publishes, and the helpers its tests share."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.events.clients import ClientState
from contracts.events.credit_notes import CreditNoteIssued
from contracts.events.invoices import InvoiceIssued, InvoiceLine, InvoiceVoided
from contracts.registry import build_event, decode_event, encode_event, event_key, spec_for
from payments.app import define
from payments.settings import PaymentsSettings
from servicekit.identity import IDENTITY_HEADER, CallerRole, Identity
from servicekit.sealing import new_key
from servicekit.service import Runtime, create_app
from servicekit.testing import Infra, eventually, read_topic, serve

CLIENT = uuid.UUID(int=7)
# The key sealing webhook secrets in these tests (a fixed one: a test restarts payments and
# must open what the first app sealed).
SECRET_KEY = new_key()


@dataclass
class Payments:
    infra: Infra
    url: str
    producer: AIOKafkaProducer
    runtime: Runtime

    def http(self, tenant_id: uuid.UUID, role: CallerRole = "admin") -> httpx.AsyncClient:
        token = self.infra.token(Identity(tenant_id, f"tester:{role}", role))
        return httpx.AsyncClient(base_url=self.url, headers={IDENTITY_HEADER: token}, timeout=15)

    async def publish(self, tenant_id: uuid.UUID, event_type: str, payload: Any) -> None:
        envelope = build_event(
            event_type,
            payload,
            tenant_id=tenant_id,
            producer="invoicing",
            event_id=uuid.uuid4(),
            occurred_at=datetime.now(UTC),
        )
        topic = spec_for(envelope.event_type, envelope.schema_version).topic
        await self.producer.send_and_wait(topic, encode_event(envelope), key=event_key(envelope))

    async def client(self, tenant_id: uuid.UUID, client_id: uuid.UUID = CLIENT) -> None:
        state = ClientState(
            client_id=client_id, version=1, name="Acme", currency="EUR", payment_terms_days=30
        )
        await self.publish(tenant_id, "client.changed", state)

        async def known() -> bool:
            found = await self.infra.fetch_as_tenant(
                "payments", tenant_id, "SELECT 1 FROM clients WHERE client_id = $1", client_id
            )
            return bool(found)

        await eventually(known, message="client replica")

    async def invoice(
        self,
        tenant_id: uuid.UUID,
        total: int,
        *,
        invoice_id: uuid.UUID | None = None,
        currency: str = "EUR",
        due: date = date(2026, 12, 31),
        client_id: uuid.UUID = CLIENT,
    ) -> uuid.UUID:
        invoice_id = invoice_id or uuid.uuid4()
        issued = issued_event(invoice_id, total, currency=currency, due=due, client_id=client_id)
        await self.publish(tenant_id, "invoice.issued", issued)

        async def known() -> bool:
            found = await self.infra.fetch_as_tenant(
                "payments", tenant_id, "SELECT 1 FROM receivables WHERE invoice_id = $1", invoice_id
            )
            return bool(found)

        await eventually(known, message="receivable")
        return invoice_id

    async def void(self, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> None:
        """The invoice voided by invoicing, published and recorded (issued or not yet)."""
        await self.publish(tenant_id, "invoice.voided", voided_event(invoice_id))

        async def recorded() -> bool:
            found = await self.infra.fetch_as_tenant(
                "payments",
                tenant_id,
                "SELECT 1 FROM voided_invoices WHERE invoice_id = $1",
                invoice_id,
            )
            return bool(found)

        await eventually(recorded, message="receivable void")

    async def credit_note(self, tenant_id: uuid.UUID, invoice_id: uuid.UUID, amount: int) -> None:
        """A credit note of `amount` on the invoice, published and counted."""
        note = credit_note_event(invoice_id, amount)
        await self.publish(tenant_id, "credit_note.issued", note)

        async def counted() -> bool:
            found = await self.infra.fetch_as_tenant(
                "payments",
                tenant_id,
                "SELECT 1 FROM receivable_credits WHERE credit_note_id = $1",
                note.credit_note_id,
            )
            return bool(found)

        await eventually(counted, message="credit note counted")

    async def paid_minor(self, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> int:
        """What the receivables replica counts as paid on the invoice."""
        [row] = await self.infra.fetch_as_tenant(
            "payments",
            tenant_id,
            "SELECT paid_minor FROM receivables WHERE invoice_id = $1",
            invoice_id,
        )
        return int(row["paid_minor"])


def issued_event(
    invoice_id: uuid.UUID,
    total: int,
    *,
    currency: str = "EUR",
    due: date = date(2026, 12, 31),
    client_id: uuid.UUID = CLIENT,
) -> InvoiceIssued:
    return InvoiceIssued(
        invoice_id=invoice_id,
        number=f"INV-2026-{invoice_id.int % 100000:05d}",
        client_id=client_id,
        currency=currency,
        issued_at=datetime.now(UTC),
        due_date=due,
        period_start=None,
        period_end=None,
        lines=[one_line(total)],
        subtotal_minor=total,
        discount_minor=0,
        tax_minor=0,
        total_minor=total,
        time_entry_ids=[],
    )


def voided_event(invoice_id: uuid.UUID) -> InvoiceVoided:
    return InvoiceVoided(
        invoice_id=invoice_id,
        number="INV-V",
        client_id=CLIENT,
        voided_at=datetime.now(UTC),
        time_entry_ids=[],
    )


def credit_note_event(invoice_id: uuid.UUID, amount: int) -> CreditNoteIssued:
    """A credit note of one line of `amount` against the invoice, as invoicing sends it."""
    return CreditNoteIssued(
        credit_note_id=uuid.uuid4(),
        number=f"CN-{uuid.uuid4().hex[:8]}",
        invoice_id=invoice_id,
        invoice_number="INV",
        client_id=CLIENT,
        currency="EUR",
        issued_at=datetime.now(UTC),
        lines=[one_line(amount)],
        subtotal_minor=amount,
        discount_minor=0,
        tax_minor=0,
        total_minor=amount,
    )


def one_line(amount: int) -> InvoiceLine:
    return InvoiceLine(
        line_id=uuid.uuid4(),
        description="Work",
        project_id=None,
        quantity=1,
        unit_amount_minor=amount,
        amount_minor=amount,
        discount_minor=0,
        tax_rate_id=None,
        tax_rate_percent=None,
        tax_minor=0,
    )


@pytest.fixture(scope="module")
async def payments(infra: Infra) -> AsyncIterator[Payments]:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers)
    await producer.start()
    try:
        app = create_app(define(infra.settings(PaymentsSettings, secret_keys=f"t1:{SECRET_KEY}")))
        async with serve(app) as url:
            yield Payments(infra, url, producer, app.state.runtime)
    finally:
        await producer.stop()


def pay(invoice_id: uuid.UUID, amount: int, **extra: Any) -> dict[str, Any]:
    return {"invoice_id": str(invoice_id), "amount_minor": amount, "currency": "EUR",
            "method": "bank_transfer", **extra}  # fmt: skip


async def published(
    payments: Payments, topic: str, invoice_id: uuid.UUID, expected: int
) -> list[Any]:
    """Payloads of `topic`'s events about one invoice (read until `expected` came, or 5 s)."""
    records = await read_topic(
        payments.infra.kafka.bootstrap_servers,
        topic,
        lambda r: r.key == str(invoice_id).encode(),
        expected=expected,
        timeout=5,
    )
    return [decode_event(r.value).payload for r in records]


async def received(payments: Payments, invoice_id: uuid.UUID, expected: int) -> list[Any]:
    return await published(payments, "payment-received", invoice_id, expected)
