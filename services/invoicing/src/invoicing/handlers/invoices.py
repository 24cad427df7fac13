"""Draft, issue, void, write off and delete invoices; each step in one transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from contracts.money import Money
from invoicing.db import invoices as rows
from invoicing.db import replicas
from invoicing.db import rules as rule_rows
from invoicing.db import settings as settings_rows
from invoicing.domain.drafting import (
    BilledChange,
    DraftInvoice,
    DraftLine,
    ManualLine,
    TimeLineTerms,
    UnbilledEntry,
    plan_adjustments,
    plan_draft,
)
from invoicing.domain.errors import (
    ClientNotFound,
    DraftStale,
    FieldInvalid,
    InvoiceNotFound,
    NothingToBill,
    RateMissing,
    TransitionRefused,
)
from invoicing.domain.invoices import BilledEntry, Invoice, InvoiceLine, number_of, require_status
from invoicing.domain.periods import local_date, utc_bounds
from invoicing.domain.pricing import Priced, PricedLine, Tax, price
from invoicing.domain.rates import RateRule
from invoicing.domain.settings import InvoiceSettings
from invoicing.handlers.common import transaction
from invoicing.messaging import outgoing
from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.outbox import enqueue, enqueue_many
from servicekit.problems import ServiceError
from servicekit.service import Runtime
from servicekit.versioning import check_version

# Far enough apart to hold any entry when a draft names no period.
_ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
_LISTED = 50


@dataclass(frozen=True, slots=True)
class InvoiceView:
    invoice: Invoice
    lines: tuple[InvoiceLine, ...]
    entries: tuple[BilledEntry, ...]


async def draft_in(
    conn: Connection,
    runtime: Runtime,
    tenant_id: UUID,
    cmd: DraftInvoice,
    *,
    client_locked: bool = False,
    settings: InvoiceSettings | None = None,
) -> InvoiceView:
    """Draft inside the caller's transaction (a billing run drafts many in its own, with
    the tenant's settings read once)."""
    settings = settings or await settings_rows.get(conn, tenant_id)
    client = await replicas.client(conn, cmd.client_id)
    if client is None:
        raise ClientNotFound(f"no client {cmd.client_id}")
    if not client_locked:
        await rows.lock_client(conn, cmd.client_id)
    time_tax = await _tax(conn, cmd.tax_rate_id or client.default_tax_rate_id, "tax_rate_id")
    manual = [
        ManualLine(
            description=m.description,
            quantity=m.quantity,
            unit_amount_minor=m.unit_amount_minor,
            unit=m.unit,
            discount=m.discount,
            tax=await _tax(conn, m.tax_rate_id or client.default_tax_rate_id, f"lines/{i}"),
        )
        for i, m in enumerate(cmd.lines)
    ]
    entries = []
    changes = []
    if cmd.include_time:
        start, end = utc_bounds(cmd.period, settings.zone) if cmd.period else _ALL_TIME
        entries = await rows.unbilled(conn, cmd.client_id, start, end)
        changes = await rows.changed_billed(conn, cmd.client_id)
    rules = await rule_rows.rules_for_client(conn, cmd.client_id, client.currency)
    billed = await rows.billed_charges(conn, [r.id for r in rules if not r.prices_time])
    planned = _plan(
        runtime,
        tenant_id,
        cmd,
        _Inputs(client, settings, time_tax, manual, entries, changes, rules, billed),
        terms=await _terms(conn, cmd),
    )
    await _write(conn, [planned])
    return planned.view


async def draft_many_in(
    conn: Connection,
    runtime: Runtime,
    tenant_id: UUID,
    cmds: Sequence[DraftInvoice],
    settings: InvoiceSettings,
) -> tuple[list[tuple[UUID, InvoiceView]], list[tuple[UUID, ServiceError]]]:
    """A billing run's drafts (time only, clients locked by the caller) of several clients
    in one transaction, each read once for all of them: the drafts, and the clients refused
    with why (nothing to bill is not a refusal: such a client is in neither list)."""
    assert all(c.include_time and not c.lines and not c.time_terms for c in cmds)
    ids = [c.client_id for c in cmds]
    found = await replicas.clients(conn, ids)
    refused: list[tuple[UUID, ServiceError]] = [
        (c, ClientNotFound(f"no client {c}")) for c in ids if c not in found
    ]
    periods = {c.period for c in cmds}
    assert len(periods) == 1, "one billing run, one period"
    [period] = periods
    start, end = utc_bounds(period, settings.zone) if period else _ALL_TIME
    present = [c for c in ids if c in found]
    entries = await rows.unbilled_many(conn, present, start, end)
    changes = await rows.changed_billed_many(conn, present)
    rules = await rule_rows.rules_for_clients(conn, {c: found[c].currency for c in present})
    billed = await rows.billed_charges(
        conn, sorted({r.id for of in rules.values() for r in of if not r.prices_time})
    )
    taxes: dict[UUID | None, Tax | None] = {None: None}
    planned: list[_Planned] = []
    for cmd in cmds:
        client = found.get(cmd.client_id)
        if client is None:
            continue
        try:
            rate_id = cmd.tax_rate_id or client.default_tax_rate_id
            if rate_id not in taxes:
                taxes[rate_id] = await _tax(conn, rate_id, "tax_rate_id")
            inputs = _Inputs(
                client,
                settings,
                taxes[rate_id],
                [],
                entries[cmd.client_id],
                changes[cmd.client_id],
                rules[cmd.client_id],
                billed,
            )
            planned.append(_plan(runtime, tenant_id, cmd, inputs, terms={}))
        except NothingToBill:
            continue
        except ServiceError as exc:
            refused.append((cmd.client_id, exc))
    await _write(conn, planned)
    return [(p.view.invoice.client_id, p.view) for p in planned], refused


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What a draft is planned from, read before."""

    client: replicas.ClientReplica
    settings: InvoiceSettings
    time_tax: Tax | None
    manual: list[ManualLine]
    entries: list[UnbilledEntry]
    changes: list[BilledChange]
    rules: list[RateRule]
    billed_charges: list[tuple[UUID, date]]


@dataclass(frozen=True, slots=True)
class _Planned:
    """A draft as it is written: the invoice, its lines and entries, what it charges, the
    issued rows it takes entries from, and the revisions it only acknowledges."""

    view: InvoiceView
    charges: list[tuple[UUID, date]]
    adjusted: list[tuple[UUID, UUID]]
    unchanged: list[BilledChange]


def _plan(
    runtime: Runtime,
    tenant_id: UUID,
    cmd: DraftInvoice,
    inputs: _Inputs,
    *,
    terms: dict[UUID, tuple[TimeLineTerms, Tax | None]],
) -> _Planned:
    now = runtime.clock()
    client, settings = inputs.client, inputs.settings
    tz = settings.zone
    adjustments, unchanged, unpriced = plan_adjustments(
        inputs.changes, inputs.rules, client_id=cmd.client_id, currency=client.currency, tz=tz
    )
    plan = plan_draft(
        inputs.entries,
        inputs.rules,
        client_id=cmd.client_id,
        currency=client.currency,
        tz=tz,
        group_by=cmd.group_by,
        tax=inputs.time_tax,
        period=cmd.period if cmd.include_time else None,
        billed_charges=inputs.billed_charges,
        manual=inputs.manual,
    )
    unpriced += plan.unpriced
    if unpriced:
        raise RateMissing(
            f"{len(unpriced)} billable entries have no {client.currency} rate in effect; "
            "add a rate rule and draft again",
            entry_ids=[str(e) for e in unpriced[:_LISTED]],
        )
    drafted = [*_with_terms(plan.lines, terms), *adjustments]
    if not drafted:
        raise NothingToBill("no unbilled time in the period and no lines were given")
    priced = price(
        [line.as_input() for line in drafted],
        client.currency,
        discount=cmd.discount,
        tax_rounding=settings.tax_rounding,
    )
    invoice = Invoice(
        tenant_id=tenant_id,
        id=runtime.new_id(),
        client_id=cmd.client_id,
        currency=client.currency,
        status="draft",
        payment_status="unpaid",
        collection_status="current",
        number=None,
        period_start=cmd.period.start if cmd.period else None,
        period_end=cmd.period.end if cmd.period else None,
        group_by=cmd.group_by,
        tax_rounding=settings.tax_rounding,
        discount_kind=cmd.discount.kind if cmd.discount else None,
        discount_value=cmd.discount.value if cmd.discount else None,
        payment_terms_days=client.payment_terms_days,
        due_date=None,
        subtotal_minor=priced.subtotal_minor,
        discount_minor=priced.discount_minor,
        tax_minor=priced.tax_minor,
        total_minor=priced.total_minor,
        amount_paid_minor=0,
        amount_credited_minor=0,
        amount_written_off_minor=0,
        notes=cmd.notes,
        void_reason=None,
        client_snapshot=client.snapshot(),
        seller_snapshot=None,
        billing_run_id=cmd.billing_run_id,
        version=1,
        created_at=now,
        updated_at=now,
        issued_at=None,
        voided_at=None,
        partially_paid_at=None,
        paid_at=None,
        overdue_at=None,
        written_off_at=None,
    )
    lines, billed = _stored_lines(runtime, invoice, drafted, priced)
    adjusted = [
        (line.adjusts_invoice_id, e.entry_id)
        for line in adjustments
        if line.adjusts_invoice_id
        for e in line.entries
    ]
    return _Planned(
        InvoiceView(invoice, tuple(lines), tuple(billed)),
        [key for line in drafted for key in line.charges],
        adjusted,
        list(unchanged),
    )


async def _write(conn: Connection, planned: Sequence[_Planned]) -> None:
    await rows.acknowledge(conn, [c for p in planned for c in p.unchanged])
    for p in planned:
        if p.adjusted:
            # First, so the issued rows let go of the entries this draft now holds.
            await rows.supersede(conn, p.view.invoice.id, p.adjusted)
    await rows.insert_many(
        conn, [(p.view.invoice, p.view.lines, p.view.entries, p.charges) for p in planned]
    )


def _stored_lines(
    runtime: Runtime, invoice: Invoice, drafted: Sequence[DraftLine], priced: Priced
) -> tuple[list[InvoiceLine], list[BilledEntry]]:
    lines: list[InvoiceLine] = []
    billed: list[BilledEntry] = []
    for position, (line, p) in enumerate(zip(drafted, priced.lines, strict=True), start=1):
        line_id = runtime.new_id()
        tax = line.tax
        lines.append(
            InvoiceLine(
                tenant_id=invoice.tenant_id,
                invoice_id=invoice.id,
                id=line_id,
                position=position,
                kind=line.kind,
                description=line.description,
                project_id=line.project_id,
                member_id=line.member_id,
                task=line.task,
                quantity=line.quantity,
                unit=line.unit,
                unit_amount_minor=line.unit_amount_minor,
                amount_minor=p.amount_minor,
                line_discount_kind=line.discount.kind if line.discount else None,
                line_discount_value=line.discount.value if line.discount else None,
                discount_minor=p.discount_minor,
                tax_rate_id=tax.rate_id if tax else None,
                tax_name=tax.name if tax else None,
                tax_percent=tax.percent if tax else None,
                tax_treatment=tax.treatment if tax else None,
                tax_minor=p.tax_minor,
                raw_seconds=line.raw_seconds,
                billed_seconds=line.billed_seconds,
                rate_rule_id=line.rule.id if line.rule else None,
                rate_scope=line.rule.scope if line.rule else None,
                rate_explanation=line.rule.explain() if line.rule else None,
                adjusts_invoice_id=line.adjusts_invoice_id,
            )
        )
        amounts = _billed_amounts(line, p, invoice.currency)
        billed += [
            BilledEntry(
                tenant_id=invoice.tenant_id,
                invoice_id=invoice.id,
                line_id=line_id,
                entry_id=e.entry_id,
                entry_version=e.version,
                raw_seconds=e.raw_seconds,
                billed_seconds=e.billed_seconds,
                amount_minor=amount,
                active=line.holds_entries,
            )
            for e, amount in zip(line.entries, amounts, strict=True)
        ]
    return lines, billed


def _billed_amounts(line: DraftLine, priced: PricedLine, currency: str) -> list[int]:
    """What each entry of a time line is billed, net of discounts: its share of the line's
    taxable amount by its undiscounted share, adding up to it exactly. An adjustment keeps
    the entry's new undiscounted price (the next adjustment is measured from it)."""
    shares = [e.amount_minor for e in line.entries]
    if line.kind != "time" or not any(shares) or priced.discount_minor == 0:
        return shares
    parts = Money(priced.taxable_minor, currency).allocate(shares)
    return [part.amount for part in parts]


async def _terms(
    conn: Connection, cmd: DraftInvoice
) -> dict[UUID, tuple[TimeLineTerms, Tax | None]]:
    """The tax and discount `cmd.time_terms` gives the time lines of each project named."""
    terms = {}
    for i, t in enumerate(cmd.time_terms):
        tax = await _tax(conn, t.tax_rate_id, f"time_lines/{i}/tax_rate_id")
        terms[t.project_id] = (t, tax)
    return terms


def _with_terms(
    lines: Sequence[DraftLine], terms: dict[UUID, tuple[TimeLineTerms, Tax | None]]
) -> list[DraftLine]:
    result = []
    for line in lines:
        found = terms.get(line.project_id) if line.kind == "time" and line.project_id else None
        if found is None:
            result.append(line)
            continue
        t, tax = found
        result.append(
            dataclasses.replace(
                line,
                tax=tax if t.tax_rate_id is not None else line.tax,
                discount=t.discount or line.discount,
            )
        )
    return result


async def _tax(conn: Connection, rate_id: UUID | None, field: str) -> Tax | None:
    if rate_id is None:
        return None
    rate = await rule_rows.tax_rate(conn, rate_id)
    if rate is None:
        raise FieldInvalid(field, f"no tax rate {rate_id}")
    if rate.archived:
        raise FieldInvalid(field, f"tax rate {rate_id} is archived")
    return rate.as_tax()


async def issue_invoice(
    runtime: Runtime, identity: Identity, invoice_id: UUID, *, if_match: str | None
) -> InvoiceView:
    """Number it (gapless: the series row is locked until commit), freeze it, lock its time
    and publish `invoice.issued`."""

    async def write(conn: Connection) -> InvoiceView:
        return await issue_in(conn, runtime, invoice_id, if_match=if_match)

    return await transaction(runtime, identity, write)


async def issue_in(
    conn: Connection,
    runtime: Runtime,
    invoice_id: UUID,
    *,
    if_match: str | None = None,
    drafted: InvoiceView | None = None,
) -> InvoiceView:
    """`issue_invoice` inside the caller's tenant transaction. `drafted` is the draft as its
    drafting returned it (a draft's lines and entries never change), saving their reads."""
    ready = await _ready_to_issue(conn, invoice_id, if_match=if_match, drafted=drafted)
    [view] = await _issue_ready(conn, runtime, [ready])
    return view


async def issue_many(
    conn: Connection, runtime: Runtime, drafts: Sequence[InvoiceView | UUID]
) -> tuple[list[InvoiceView], list[tuple[UUID, ServiceError]]]:
    """Issue several drafts of one tenant in the caller's transaction: the issued ones, and
    the refused ones with why. The number series is locked once, for the whole block of
    numbers, after every check: refusals write nothing."""
    ids = [d.invoice.id if isinstance(d, InvoiceView) else d for d in drafts]
    # Two statements for the whole batch: its invoices locked, and their changed entries.
    locked = await rows.locked_many(conn, ids)
    stale = await rows.stale_many(conn, ids)
    ready: list[InvoiceView] = []
    refused: list[tuple[UUID, ServiceError]] = []
    for invoice_id, draft in zip(ids, drafts, strict=True):
        try:
            invoice = locked.get(invoice_id)
            if invoice is None:
                raise InvoiceNotFound(f"no invoice {invoice_id}")
            _check_issuable(invoice, stale.get(invoice_id, []))
        except ServiceError as exc:
            refused.append((invoice_id, exc))
            continue
        if isinstance(draft, InvoiceView):
            ready.append(InvoiceView(invoice, draft.lines, draft.entries))
        else:
            lines = await rows.lines_of(conn, invoice_id)
            entries = await rows.entries_of(conn, invoice_id)
            ready.append(InvoiceView(invoice, tuple(lines), tuple(entries)))
    return (await _issue_ready(conn, runtime, ready) if ready else []), refused


def _check_issuable(invoice: Invoice, stale: Sequence[UUID]) -> None:
    require_status(invoice, "draft", action="issue")
    if stale:
        raise DraftStale(
            f"{len(stale)} entries changed since drafting; delete the draft and draft again",
            entry_ids=[str(e) for e in stale[:_LISTED]],
        )
    if invoice.total_minor < 0:
        raise TransitionRefused("the total is negative: issue a credit note instead")


async def _ready_to_issue(
    conn: Connection, invoice_id: UUID, *, if_match: str | None, drafted: InvoiceView | None
) -> InvoiceView:
    """The draft, locked and checked: still a draft, its time unchanged, a total >= 0."""
    invoice = await _locked(conn, invoice_id, if_match)
    _check_issuable(invoice, await rows.stale_entries(conn, invoice_id))
    if drafted is not None and drafted.invoice.id == invoice_id:
        return InvoiceView(invoice, drafted.lines, drafted.entries)
    lines = await rows.lines_of(conn, invoice_id)
    entries = await rows.entries_of(conn, invoice_id)
    return InvoiceView(invoice, tuple(lines), tuple(entries))


async def _issue_ready(
    conn: Connection, runtime: Runtime, ready: Sequence[InvoiceView]
) -> list[InvoiceView]:
    now = runtime.clock()
    tenant_id = ready[0].invoice.tenant_id
    settings = await settings_rows.get(conn, tenant_id)
    issued_on = local_date(now, settings.zone)
    # The series row stays locked from here to COMMIT, so issues of one tenant queue here:
    # everything that can happen before it did. Numbers follow the order of `ready`.
    last = await rows.take_numbers(
        conn, tenant_id, "invoice", settings.invoice_prefix, issued_on.year, len(ready)
    )
    views, events = [], []
    for sequence, view in enumerate(ready, start=last - len(ready) + 1):
        issued = view.invoice.step(
            "issued",
            now,
            number=number_of(settings.invoice_prefix, issued_on.year, sequence),
            due_date=issued_on + timedelta(days=view.invoice.payment_terms_days),
            seller_snapshot=settings.seller_snapshot(),
        )
        if issued.total_minor == 0:
            issued = issued.with_money(now=now)
        events.append(
            outgoing.invoice_issued(issued, view.lines, view.entries, event_id=runtime.new_id())
        )
        if issued.payment_status == "paid":
            events.append(outgoing.invoice_paid(issued, event_id=runtime.new_id()))
        views.append(InvoiceView(issued, view.lines, view.entries))
    await rows.mark_issued(conn, [v.invoice for v in views])
    await enqueue_many(conn, events)
    return views


async def void_invoice(
    runtime: Runtime,
    identity: Identity,
    invoice_id: UUID,
    *,
    reason: str | None,
    if_match: str | None,
) -> Invoice:
    """Keeps its number; unlocks its time (billable again) and publishes `invoice.voided`."""
    now = runtime.clock()

    async def write(conn: Connection) -> Invoice:
        invoice = await _locked(conn, invoice_id, if_match)
        require_status(invoice, "issued", action="void")
        if invoice.collection_status == "uncollectible":
            raise TransitionRefused("the invoice is written off; it cannot be voided")
        if invoice.amount_paid_minor != 0 or invoice.amount_credited_minor != 0:
            raise TransitionRefused(
                "payments or credit notes are applied; refund or credit them first"
            )
        if await rows.is_adjusted(conn, invoice_id):
            raise TransitionRefused(
                "a later invoice adjusts some of its time; issue a credit note instead"
            )
        voided = invoice.step("void", now, void_reason=reason)
        entries = [e for e in await rows.entries_of(conn, invoice_id) if e.active]
        await rows.update(conn, voided)
        await rows.release(conn, invoice_id)
        await rows.restore_superseded(conn, invoice_id)
        await enqueue(conn, outgoing.invoice_voided(voided, entries, event_id=runtime.new_id()))
        return voided

    return await transaction(runtime, identity, write)


async def write_off_invoice(
    runtime: Runtime,
    identity: Identity,
    invoice_id: UUID,
    *,
    reason: str | None,
    if_match: str | None,
) -> Invoice:
    """The balance becomes uncollectible; publishes `invoice.written_off`."""
    now = runtime.clock()

    async def write(conn: Connection) -> Invoice:
        invoice = await _locked(conn, invoice_id, if_match)
        require_status(invoice, "issued", action="write off")
        if invoice.collection_status == "uncollectible":
            raise TransitionRefused("the invoice is already written off")
        if invoice.balance_minor <= 0:
            raise TransitionRefused("nothing is owed on this invoice")
        written = dataclasses.replace(
            invoice,
            collection_status="uncollectible",
            amount_written_off_minor=invoice.balance_minor,
            written_off_at=now,
            version=invoice.version + 1,
            updated_at=now,
        )
        await rows.update(conn, written)
        event = outgoing.invoice_written_off(written, event_id=runtime.new_id(), reason=reason)
        await enqueue(conn, event)
        return written

    return await transaction(runtime, identity, write)


async def delete_draft(
    runtime: Runtime, identity: Identity, invoice_id: UUID, *, if_match: str | None
) -> None:
    """Only drafts are deleted (issued invoices are voided); their time is unbilled again."""

    async def write(conn: Connection) -> None:
        invoice = await _locked(conn, invoice_id, if_match)
        require_status(invoice, "draft", action="delete")
        # Its rows go first, so the issued invoices it adjusted can hold their entries again.
        await rows.delete(conn, invoice_id)
        await rows.restore_superseded(conn, invoice_id)

    await transaction(runtime, identity, write)


async def _locked(conn: Connection, invoice_id: UUID, if_match: str | None) -> Invoice:
    """The invoice, locked. Its state machine already refuses a repeated or crossed step, so
    If-Match is checked only when sent (a client issuing what it reviewed sends it)."""
    invoice = await rows.get(conn, invoice_id, lock=True)
    if invoice is None:
        raise InvoiceNotFound(f"no invoice {invoice_id}")
    if if_match is not None:
        check_version(if_match, invoice.version)
    return invoice
