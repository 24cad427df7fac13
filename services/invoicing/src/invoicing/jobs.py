"""Scheduled jobs: overdue invoices, recurring invoices, unfinished billing runs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from invoicing.db import invoices as rows
from invoicing.db import recurring as recurring_rows
from invoicing.handlers import billing_runs, collections, recurring
from servicekit.service import Runtime

# No timezone is ahead of UTC by more than 14 h: an invoice due on or after the UTC date
# 14 h from now cannot be overdue anywhere yet.
_MAX_AHEAD = timedelta(hours=14)
_BATCH = 500

log = logging.getLogger(__name__)


async def mark_overdue(runtime: Runtime) -> int:
    """Every invoice past due in its tenant's timezone becomes overdue, once.

    Catch-up after downtime is the same run: the scan has no lower bound on the due date.
    Returns how many invoices it marked.
    """
    now = runtime.clock()
    horizon = (now + _MAX_AHEAD).date()
    marked = 0
    after: tuple[object, ...] | None = None
    while True:
        batch = await rows.due_candidates(runtime.require_pool(), horizon, after, _BATCH)
        for candidate in batch:
            if await collections.mark_overdue(runtime, candidate.tenant_id, candidate.id, now):
                marked += 1
        if len(batch) < _BATCH:
            return marked
        last = batch[-1]
        after = (last.due_date, last.tenant_id, last.id)


async def resume_billing_runs(runtime: Runtime) -> int:
    """Finish runs a restart interrupted; returns how many were still running."""
    return await billing_runs.resume_runs(runtime)


@contextlib.asynccontextmanager
async def billing_run_workers(runtime: Runtime) -> AsyncIterator[None]:
    """Runs started by requests live with the app and stop with it."""
    try:
        yield
    finally:
        await billing_runs.stop_runs(runtime)


async def bill_recurring(runtime: Runtime) -> int:
    """Every active schedule bills each due period once, the missed ones after downtime too.
    Returns how many periods were handled."""
    horizon = (runtime.clock() + _MAX_AHEAD).date() + timedelta(days=1)
    handled = 0
    for tenant_id, schedule_id in await recurring_rows.due_schedules(
        runtime.require_pool(), horizon
    ):
        try:
            handled += await recurring.bill_due_periods(runtime, tenant_id, schedule_id)
        except Exception:
            # One broken schedule must not hold up the others; the next run retries it.
            log.exception("recurring schedule failed", extra={"schedule": schedule_id})
    return handled
