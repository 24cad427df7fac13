"""Collection status: the overdue job's step for one invoice."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from uuid import UUID, uuid5

from invoicing.db import invoices as rows
from invoicing.db import settings as settings_rows
from invoicing.domain.periods import local_date
from invoicing.messaging import outgoing
from servicekit.db import Connection, in_tenant_transaction
from servicekit.outbox import enqueue
from servicekit.service import Runtime


async def mark_overdue(runtime: Runtime, tenant_id: UUID, invoice_id: UUID, now: datetime) -> bool:
    """Mark one invoice overdue if it still is: issued, current, owing, and its due date is
    before today in the tenant's timezone. Publishes `invoice.overdue` with an id derived from
    the invoice, so a repeated run (or a second replica) changes nothing and sends nothing."""

    async def write(conn: Connection) -> bool:
        invoice = await rows.get(conn, invoice_id, lock=True)
        if invoice is None or invoice.due_date is None:
            return False
        settings = await settings_rows.get(conn, tenant_id)
        due = local_date(now, settings.zone) > invoice.due_date
        eligible = (
            invoice.status == "issued"
            and invoice.collection_status == "current"
            and invoice.balance_minor > 0
        )
        if not (due and eligible):
            return False
        overdue = dataclasses.replace(
            invoice,
            collection_status="overdue",
            overdue_at=now,
            version=invoice.version + 1,
            updated_at=now,
        )
        await rows.update(conn, overdue)
        event = outgoing.invoice_overdue(overdue, event_id=uuid5(invoice.id, "invoice.overdue"))
        await enqueue(conn, event)
        return True

    return await in_tenant_transaction(runtime.require_pool(), tenant_id, write)
