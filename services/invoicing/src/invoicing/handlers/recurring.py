"""Recurring invoices: create and change schedules; the job bills each due period once."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

from invoicing.db import recurring as rows
from invoicing.db import replicas
from invoicing.db import settings as settings_rows
from invoicing.domain.drafting import DraftInvoice, ManualLineRequest
from invoicing.domain.errors import ClientNotFound, RecurringInvoiceNotFound
from invoicing.domain.invoices import GroupBy
from invoicing.domain.periods import Period, local_date
from invoicing.domain.pricing import Discount
from invoicing.domain.recurring import RecurringInvoice, due_periods, next_due
from invoicing.handlers.common import transaction
from invoicing.handlers.invoices import draft_in, issue_in
from servicekit.db import Connection, in_tenant_transaction, savepoint
from servicekit.identity import Identity
from servicekit.problems import ServiceError
from servicekit.records import revised
from servicekit.service import Runtime
from servicekit.versioning import check_version

log = logging.getLogger(__name__)


async def create_schedule(
    runtime: Runtime, identity: Identity, fields: Mapping[str, Any]
) -> RecurringInvoice:
    now = runtime.clock()

    async def write(conn: Connection) -> RecurringInvoice:
        if await replicas.client(conn, fields["client_id"]) is None:
            raise ClientNotFound(f"no client {fields['client_id']}")
        today = local_date(now, (await settings_rows.get(conn, identity.tenant_id)).zone)
        schedule = RecurringInvoice(
            tenant_id=identity.tenant_id,
            id=runtime.new_id(),
            status="active",
            next_due_on=None,
            version=1,
            created_at=now,
            updated_at=now,
            **fields,
        )
        schedule = _with_next_due(schedule, today)
        await rows.insert(conn, schedule)
        return schedule

    return await transaction(runtime, identity, write)


async def revise_schedule(
    runtime: Runtime,
    identity: Identity,
    schedule_id: UUID,
    changes: Mapping[str, Any],
    *,
    if_match: str | None,
) -> RecurringInvoice:
    now = runtime.clock()

    async def write(conn: Connection) -> RecurringInvoice:
        schedule = await rows.get(conn, schedule_id, lock=True)
        if schedule is None:
            raise RecurringInvoiceNotFound(f"no recurring invoice {schedule_id}")
        check_version(if_match, schedule.version)
        new = revised(schedule, changes, now)
        if new is schedule:
            return schedule
        today = local_date(now, (await settings_rows.get(conn, identity.tenant_id)).zone)
        new = _with_next_due(new, today)
        await rows.update(conn, new)
        return new

    return await transaction(runtime, identity, write)


def _with_next_due(schedule: RecurringInvoice, today: Any) -> RecurringInvoice:
    """Due now if a period is due and unbilled (the job decides which), else the next date."""
    if schedule.status != "active":
        return dataclasses.replace(schedule, next_due_on=None)
    first_due = due_periods(schedule, today)
    upcoming = today if first_due else next_due(schedule, today)
    return dataclasses.replace(schedule, next_due_on=upcoming)


async def bill_due_periods(runtime: Runtime, tenant_id: UUID, schedule_id: UUID) -> int:
    """Draft (and issue) every due period not billed yet, each in its own transaction;
    returns how many periods it handled. A period is recorded with its outcome (even when
    there was nothing to bill), so it is never handled twice."""
    pool = runtime.require_pool()
    handled = 0
    while True:

        async def step(conn: Connection) -> bool:
            now = runtime.clock()
            schedule = await rows.get(conn, schedule_id, lock=True)
            if schedule is None or schedule.status != "active":
                return False
            today = local_date(now, (await settings_rows.get(conn, tenant_id)).zone)
            done = await rows.handled_periods(conn, schedule_id)
            pending = [p for p in due_periods(schedule, today) if p.start not in done]
            if not pending:
                after = next_due(schedule, today)
                ended = after is None
                final = dataclasses.replace(
                    schedule,
                    next_due_on=after,
                    status="ended" if ended else schedule.status,
                    version=schedule.version + 1 if ended else schedule.version,
                    updated_at=now if ended else schedule.updated_at,
                )
                if final != schedule:
                    await rows.update(conn, final)
                return False
            return await _bill_one(conn, runtime, schedule, pending[0])

        if not await in_tenant_transaction(pool, tenant_id, step):
            return handled
        handled += 1


async def _bill_one(
    conn: Connection, runtime: Runtime, schedule: RecurringInvoice, period: Period
) -> bool:
    """Bill one period; False when it failed and waits for the next run (its later periods
    wait behind it, so a schedule's invoices keep their order)."""
    now = runtime.clock()
    cmd = DraftInvoice(
        client_id=schedule.client_id,
        period=period,
        group_by=_group_by(schedule.group_by),
        include_time=schedule.include_time,
        tax_rate_id=schedule.tax_rate_id,
        lines=tuple(_line(template) for template in schedule.lines),
        notes=schedule.notes,
    )
    try:
        async with savepoint(conn, "recurring_period"):
            view = await draft_in(conn, runtime, schedule.tenant_id, cmd)
            invoice_id = view.invoice.id
            outcome = "drafted"
            if schedule.auto_issue:
                await issue_in(conn, runtime, invoice_id)
                outcome = "issued"
    except ServiceError as exc:
        # The savepoint undid the draft. Nothing to bill is an outcome; anything else (a
        # missing rate...) is retried by the next run, once the tenant has fixed it.
        if exc.slug != "nothing-to-bill":
            log.warning(
                "recurring invoice period not billed",
                extra={"schedule": schedule.id, "period": str(period.start), "problem": exc.slug},
            )
            return False
        await rows.record_occurrence(conn, schedule, period, None, "skipped", exc.detail, now)
        return True
    await rows.record_occurrence(conn, schedule, period, invoice_id, outcome, None, now)
    return True


def _group_by(value: str) -> GroupBy:
    assert value in ("project", "member", "task", "entry")
    return value  # type: ignore[return-value]


def _line(template: Mapping[str, Any]) -> ManualLineRequest:
    discount = template.get("discount")
    return ManualLineRequest(
        description=template["description"],
        quantity=Decimal(template["quantity"]),
        unit_amount_minor=int(template["unit_amount_minor"]),
        unit=template.get("unit", ""),
        discount=Discount(discount["kind"], Decimal(discount["value"])) if discount else None,
        tax_rate_id=UUID(template["tax_rate_id"]) if template.get("tax_rate_id") else None,
    )
