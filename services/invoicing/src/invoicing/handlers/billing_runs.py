"""Billing runs: start one, and work through its clients until none is left."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import asyncpg

from invoicing.db import billing_runs as rows
from invoicing.db import invoices as invoice_rows
from invoicing.db import settings as settings_rows
from invoicing.domain.billing_runs import BillingRun, RunFailure
from invoicing.domain.drafting import DraftInvoice
from invoicing.domain.errors import NothingToBill
from invoicing.domain.invoices import GroupBy
from invoicing.domain.periods import Period, utc_bounds
from invoicing.domain.settings import InvoiceSettings
from invoicing.handlers.common import transaction
from invoicing.handlers.invoices import InvoiceView, draft_in, draft_many_in, issue_many
from servicekit.db import Connection, in_tenant_transaction
from servicekit.identity import Identity
from servicekit.problems import ServiceError
from servicekit.service import Runtime

log = logging.getLogger(__name__)

_PAGE = 200
_ISSUE_BATCH = 50
# Clients a drafter takes at once: one transaction and one read of each kind for all.
_DRAFT_BATCH = 10
_ISSUERS = 2
_RUNNING = "billing_runs.running"
_TASKS = "billing_runs.tasks"


async def start_run(
    runtime: Runtime,
    identity: Identity,
    period: Period,
    *,
    group_by: GroupBy,
    auto_issue: bool,
) -> BillingRun:
    now = runtime.clock()
    run = BillingRun(
        tenant_id=identity.tenant_id,
        id=runtime.new_id(),
        period_start=period.start,
        period_end=period.end,
        group_by=group_by,
        auto_issue=auto_issue,
        status="running",
        version=1,
        created_at=now,
        updated_at=now,
        completed_at=None,
    )

    async def write(conn: Connection) -> BillingRun:
        await rows.insert(conn, run)
        return run

    return await transaction(runtime, identity, write)


def process_soon(runtime: Runtime, tenant_id: UUID, run_id: UUID, concurrency: int) -> None:
    """Work through the run in the background; the resume job finishes it after a restart."""
    running: set[UUID] = runtime.state.setdefault(_RUNNING, set())
    if run_id in running:
        return
    running.add(run_id)

    async def work() -> None:
        try:
            await process_run(runtime, tenant_id, run_id, concurrency=concurrency)
        except Exception:
            log.exception(
                "billing run stopped; it resumes on the next check", extra={"run": run_id}
            )
        finally:
            running.discard(run_id)

    tasks: set[asyncio.Task[None]] = runtime.state.setdefault(_TASKS, set())
    # A context of its own: the run must not live inside the trace (or the sampling
    # decision) of the request that started it, for thousands of invoices.
    task = asyncio.create_task(work(), name=f"billing-run:{run_id}", context=contextvars.Context())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def process_run(
    runtime: Runtime, tenant_id: UUID, run_id: UUID, *, concurrency: int = 4
) -> BillingRun:
    """Draft (and issue) for each client left, `concurrency` clients at a time, then mark the
    run completed. Safe to run twice at once: a client's invoice in a run is unique."""
    pool = runtime.require_pool()

    async def load(conn: Connection) -> tuple[BillingRun, InvoiceSettings]:
        run = await rows.get(conn, run_id)
        assert run is not None, run_id
        return run, await settings_rows.get(conn, tenant_id)

    run, settings = await in_tenant_transaction(pool, tenant_id, load)
    start, end = utc_bounds(Period(run.period_start, run.period_end), settings.zone)

    async def next_page(after: UUID | None) -> list[UUID]:
        if run.status == "completed":
            return []

        async def page(conn: Connection) -> list[UUID]:
            return await rows.next_clients(conn, run, start, end, after, _PAGE)

        return await in_tenant_transaction(pool, tenant_id, page)

    await _pipeline(runtime, run, settings, next_page, concurrency)
    if run.auto_issue and run.status == "running":
        # Drafts a crash left between their draft and issue transactions.
        async def leftovers(conn: Connection) -> list[tuple[UUID, UUID]]:
            return await rows.unissued(conn, run_id)

        left = await in_tenant_transaction(pool, tenant_id, leftovers)
        await _issue_all(runtime, run, [(client, invoice) for client, invoice in left])

    async def finish(conn: Connection) -> BillingRun:
        await rows.complete(conn, run_id, runtime.clock())
        done = await rows.get(conn, run_id)
        assert done is not None
        return done

    return await in_tenant_transaction(pool, tenant_id, finish)


async def _pipeline(
    runtime: Runtime,
    run: BillingRun,
    settings: InvoiceSettings,
    next_page: Callable[[UUID | None], Awaitable[list[UUID]]],
    concurrency: int,
) -> None:
    """Pages of clients feed `concurrency` drafters, whose drafts feed `_ISSUERS` issuers
    taking up to `_ISSUE_BATCH` at a time (more when issuing lags, so the number series is
    locked once for many). No stage waits for a page boundary."""
    clients: asyncio.Queue[UUID | None] = asyncio.Queue(maxsize=_PAGE)
    # Bounded: drafters that outpace the issuers wait, so memory stays flat.
    drafted: asyncio.Queue[tuple[UUID, InvoiceView] | None] = asyncio.Queue(
        maxsize=_ISSUERS * _ISSUE_BATCH
    )

    async def feed() -> None:
        page = await next_page(None)
        while page:
            for client_id in page:
                await clients.put(client_id)
            page = await next_page(page[-1])
        for _ in range(concurrency):
            await clients.put(None)

    async def drafter() -> None:
        done = False
        while not done and (client_id := await clients.get()) is not None:
            batch = [client_id]
            while len(batch) < _DRAFT_BATCH and not clients.empty():
                if (more := clients.get_nowait()) is None:
                    done = True  # this drafter's end of the feed: the batch is its last
                    break
                batch.append(more)
            for draft in await _draft_clients(runtime, run, batch, settings):
                if run.auto_issue:
                    await drafted.put(draft)

    async def issuer() -> None:
        while True:
            first = await drafted.get()
            if first is None:
                await drafted.put(None)  # for the other issuers
                return
            batch: list[tuple[UUID, InvoiceView | UUID]] = [first]
            while len(batch) < _ISSUE_BATCH and not drafted.empty():
                item = drafted.get_nowait()
                if item is None:
                    await drafted.put(None)
                    break
                batch.append(item)
            await _issue_batch(runtime, run, batch)

    async def drafting() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(feed())
            for _ in range(concurrency):
                group.create_task(drafter())
        await drafted.put(None)  # waits for room, like every draft

    async with asyncio.TaskGroup() as group:
        group.create_task(drafting())
        for _ in range(_ISSUERS):
            group.create_task(issuer())


async def _draft_clients(
    runtime: Runtime, run: BillingRun, client_ids: Sequence[UUID], settings: InvoiceSettings
) -> list[tuple[UUID, InvoiceView]]:
    """(client, draft) of each client of the batch this worker drafted, in one transaction
    with one read of each kind for all of them; a client refused is recorded as the run's
    failure in it. If the database refuses the batch (a value it cannot store, a client
    another worker billed meanwhile), each client is drafted on its own instead."""
    period = Period(run.period_start, run.period_end)
    cmds = [
        DraftInvoice(client_id=c, period=period, group_by=run.group_by, billing_run_id=run.id)
        for c in client_ids
    ]

    async def draft(conn: Connection) -> list[tuple[UUID, InvoiceView]]:
        # Under the clients' locks: another worker may have billed one since it was listed.
        taken = await invoice_rows.lock_clients_in_run(conn, client_ids, run.id)
        todo = [c for c in cmds if c.client_id not in taken]
        if not todo:
            return []
        drafts, refused = await draft_many_in(conn, runtime, run.tenant_id, todo, settings)
        for client_id, exc in refused:
            failure = RunFailure(client_id, exc.slug, exc.detail, runtime.clock())
            await rows.record_failure(conn, run.tenant_id, run.id, client_id, failure)
        return drafts

    try:
        return await in_tenant_transaction(runtime.require_pool(), run.tenant_id, draft)
    except (asyncpg.UniqueViolationError, asyncpg.DataError):
        one_by_one = [await _draft_client(runtime, run, c, settings) for c in client_ids]
        return [d for d in one_by_one if d is not None]


async def _draft_client(
    runtime: Runtime, run: BillingRun, client_id: UUID, settings: InvoiceSettings
) -> tuple[UUID, InvoiceView] | None:
    """(client, draft) when this worker drafted the client's invoice of the run."""
    pool = runtime.require_pool()
    cmd = DraftInvoice(
        client_id=client_id,
        period=Period(run.period_start, run.period_end),
        group_by=run.group_by,
        billing_run_id=run.id,
    )

    async def draft(conn: Connection) -> InvoiceView | None:
        # Under the client's lock: another worker may have billed it since it was listed.
        if await invoice_rows.lock_client_in_run(conn, client_id, run.id):
            return None
        return await draft_in(
            conn, runtime, run.tenant_id, cmd, client_locked=True, settings=settings
        )

    try:
        view = await in_tenant_transaction(pool, run.tenant_id, draft)
    except asyncpg.UniqueViolationError:
        return None  # another worker billed this client in this run
    except NothingToBill:
        return None  # a retainer already billed for the period, say: nothing is wrong
    except ServiceError as exc:
        await _failed(runtime, run, client_id, exc)
        return None
    except asyncpg.DataError as exc:
        # A value the database refuses (an amount past bigint): this client, not the run.
        await _failed(runtime, run, client_id, ServiceError(f"unstorable value: {exc}"))
        return None
    return None if view is None else (client_id, view)


async def _issue_all(
    runtime: Runtime, run: BillingRun, drafts: Sequence[tuple[UUID, InvoiceView | UUID]]
) -> None:
    for first in range(0, len(drafts), _ISSUE_BATCH):
        await _issue_batch(runtime, run, drafts[first : first + _ISSUE_BATCH])


async def _issue_batch(
    runtime: Runtime, run: BillingRun, batch: Sequence[tuple[UUID, InvoiceView | UUID]]
) -> None:
    """Issue a batch in one transaction: the series row is locked only from the batch's
    block of numbers to its commit, so one issuer checks its drafts while the other commits.
    A refused draft (stale, say) is recorded as its client's failure; the others go ahead."""
    clients = {_invoice_id(d): client for client, d in batch}

    async def issue(conn: Connection) -> None:
        # A retried batch (connection lost at COMMIT) skips what it already issued.
        still = await rows.still_drafts(conn, list(clients))
        _, refused = await issue_many(
            conn, runtime, [d for _, d in batch if _invoice_id(d) in still]
        )
        for invoice_id, exc in refused:
            client_id = clients[invoice_id]
            failure = RunFailure(client_id, exc.slug, exc.detail, runtime.clock())
            await rows.record_failure(conn, run.tenant_id, run.id, client_id, failure)

    await in_tenant_transaction(runtime.require_pool(), run.tenant_id, issue)


def _invoice_id(draft: InvoiceView | UUID) -> UUID:
    return draft.invoice.id if isinstance(draft, InvoiceView) else draft


async def _failed(runtime: Runtime, run: BillingRun, client_id: UUID, exc: ServiceError) -> None:
    failure = RunFailure(client_id, exc.slug, exc.detail, runtime.clock())

    async def record(conn: Connection) -> None:
        await rows.record_failure(conn, run.tenant_id, run.id, client_id, failure)

    await in_tenant_transaction(runtime.require_pool(), run.tenant_id, record)


async def resume_runs(runtime: Runtime) -> int:
    """The job: finish every run still marked running (after a restart, or a crash)."""
    settings = runtime.settings
    concurrency = int(getattr(settings, "billing_run_concurrency", 4))
    unfinished = await rows.unfinished(runtime.require_pool())
    for tenant_id, run_id in unfinished:
        process_soon(runtime, tenant_id, run_id, concurrency)
    return len(unfinished)


async def stop_runs(runtime: Runtime) -> None:
    """Cancel runs in progress at shutdown; they are resumed where they stopped."""
    tasks: set[asyncio.Task[None]] = runtime.state.get(_TASKS, set())
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
