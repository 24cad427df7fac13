"""`/v1/invoices` routes and their HTTP schemas."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.money import MAX_MINOR
from invoicing.api.fields import BillingDate
from invoicing.db import invoices as invoice_rows
from invoicing.db import settings as settings_rows
from invoicing.domain.drafting import DraftInvoice, ManualLineRequest, TimeLineTerms
from invoicing.domain.errors import InvoiceNotFound
from invoicing.domain.invoices import BilledEntry, Invoice, InvoiceLine, require_status
from invoicing.domain.periods import Period, local_date
from invoicing.domain.pricing import Discount
from invoicing.handlers import invoices as handlers
from invoicing.handlers.invoices import InvoiceView
from invoicing.views.documents import invoice_document
from invoicing.views.pdf import render_pdf
from servicekit import lists
from servicekit.api import (
    DEFAULT_PAGE,
    Cursor,
    Limit,
    Manager,
    Reader,
    RuntimeDep,
    SortParam,
    once_per_key,
    versioned,
)
from servicekit.db import Connection, tenant_transaction
from servicekit.idempotency import IdempotencyKey, Stored, stored_json
from servicekit.pagination import Page, fetch_page
from servicekit.versioning import IfMatch, etag

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


class DiscountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["percent", "fixed"]
    value: Decimal = Field(
        ge=0,
        max_digits=19,
        decimal_places=4,
        description="Percent (0-100) for `percent`; whole minor units for `fixed`.",
    )

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        if self.kind == "percent" and self.value > 100:
            raise ValueError("a percent discount is at most 100")
        if self.kind == "fixed" and (self.value != self.value.to_integral_value()):
            raise ValueError("a fixed discount is a whole number of minor units")
        if self.kind == "fixed" and self.value > MAX_MINOR:
            raise ValueError(f"a fixed discount is at most {MAX_MINOR} minor units")
        return self

    def domain(self) -> Discount:
        return Discount(self.kind, self.value)


class ManualLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=1000)
    quantity: Decimal = Field(
        gt=-(10**9), lt=10**9, max_digits=13, decimal_places=4, description="Up to 4 decimals."
    )
    unit_amount_minor: int = Field(ge=-MAX_MINOR, le=MAX_MINOR, description="Minor units.")
    unit: str = Field("", max_length=10, description='Printed after the quantity, e.g. "h".')
    discount: DiscountIn | None = None
    tax_rate_id: UUID | None = Field(None, description="Default: the client's tax rate.")

    @model_validator(mode="after")
    def _amount_fits(self) -> Self:
        if abs(self.quantity * self.unit_amount_minor) > MAX_MINOR:
            raise ValueError(f"quantity x unit_amount_minor is more than {MAX_MINOR}")
        return self


class TimeLineTermsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: UUID
    tax_rate_id: UUID | None = Field(None, description="Tax of this project's time lines.")
    discount: DiscountIn | None = Field(None, description="Discount on each of its time lines.")


class InvoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: UUID
    period_start: BillingDate | None = Field(
        None, description="First day billed, in the tenant's timezone; with period_end."
    )
    period_end: BillingDate | None = Field(None, description="Last day billed (inclusive).")
    group_by: Literal["project", "member", "task", "entry"] = Field(
        "project", description="One time line per project, member, task or entry."
    )
    include_time: bool = Field(True, description="Bill the client's unbilled time.")
    tax_rate_id: UUID | None = Field(None, description="Tax on time lines; default the client's.")
    discount: DiscountIn | None = Field(None, description="Invoice discount, spread over lines.")
    lines: list[ManualLineIn] = Field(default_factory=list, max_length=500)
    time_lines: list[TimeLineTermsIn] = Field(
        default_factory=list,
        max_length=500,
        description="Per project: its time lines' own tax rate and discount.",
    )
    notes: str | None = Field(None, max_length=5000, description="Printed on the invoice.")

    @model_validator(mode="after")
    def _period(self) -> Self:
        projects = [t.project_id for t in self.time_lines]
        if len(set(projects)) != len(projects):
            raise ValueError("each project at most once in time_lines")
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError("give both period_start and period_end, or neither")
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self

    def command(self) -> DraftInvoice:
        period = (
            Period(self.period_start, self.period_end)
            if self.period_start and self.period_end
            else None
        )
        return DraftInvoice(
            client_id=self.client_id,
            period=period,
            group_by=self.group_by,
            include_time=self.include_time,
            tax_rate_id=self.tax_rate_id,
            discount=self.discount.domain() if self.discount else None,
            lines=tuple(
                ManualLineRequest(
                    description=m.description,
                    quantity=m.quantity,
                    unit_amount_minor=m.unit_amount_minor,
                    unit=m.unit,
                    discount=m.discount.domain() if m.discount else None,
                    tax_rate_id=m.tax_rate_id,
                )
                for m in self.lines
            ),
            notes=self.notes,
            time_terms=tuple(
                TimeLineTerms(
                    project_id=t.project_id,
                    tax_rate_id=t.tax_rate_id,
                    discount=t.discount.domain() if t.discount else None,
                )
                for t in self.time_lines
            ),
        )


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=1000)


class TaxOut(BaseModel):
    tax_rate_id: UUID
    name: str
    percent: Decimal
    treatment: str


class RateOut(BaseModel):
    rule_id: UUID
    scope: str
    explanation: str


class DiscountOut(BaseModel):
    kind: str
    value: Decimal


class LineOut(BaseModel):
    id: UUID
    position: int
    kind: str
    description: str
    project_id: UUID | None
    member_id: UUID | None
    task: str | None
    quantity: Decimal
    unit: str
    unit_amount_minor: int
    amount_minor: int = Field(description="quantity x unit price, rounded once.")
    discount: DiscountOut | None = Field(description="The line's own discount, if any.")
    discount_minor: int = Field(description="Line discount plus its share of the invoice's.")
    tax: TaxOut | None
    tax_minor: int
    total_minor: int = Field(description="amount - discount + tax.")
    raw_seconds: int | None = Field(description="Time lines: logged duration.")
    billed_seconds: int | None = Field(description="Time lines: after the project's rounding.")
    rate: RateOut | None = Field(description="Which rate rule priced the line, and why.")
    time_entry_ids: list[UUID]
    adjusts_invoice_id: UUID | None

    @classmethod
    def of(cls, line: InvoiceLine, entries: list[UUID]) -> LineOut:
        return cls(
            id=line.id,
            position=line.position,
            kind=line.kind,
            description=line.description,
            project_id=line.project_id,
            member_id=line.member_id,
            task=line.task,
            quantity=line.quantity,
            unit=line.unit,
            unit_amount_minor=line.unit_amount_minor,
            amount_minor=line.amount_minor,
            discount=DiscountOut(kind=line.line_discount_kind, value=line.line_discount_value)
            if line.line_discount_kind and line.line_discount_value is not None
            else None,
            discount_minor=line.discount_minor,
            tax=TaxOut(
                tax_rate_id=line.tax_rate_id,
                name=line.tax_name or "",
                percent=line.tax_percent or Decimal(0),
                treatment=line.tax_treatment or "standard",
            )
            if line.tax_rate_id
            else None,
            tax_minor=line.tax_minor,
            total_minor=line.amount_minor - line.discount_minor + line.tax_minor,
            raw_seconds=line.raw_seconds,
            billed_seconds=line.billed_seconds,
            rate=RateOut(
                rule_id=line.rate_rule_id,
                scope=line.rate_scope or "",
                explanation=line.rate_explanation or "",
            )
            if line.rate_rule_id
            else None,
            time_entry_ids=entries,
            adjusts_invoice_id=line.adjusts_invoice_id,
        )


class TaxTotalOut(TaxOut):
    taxable_minor: int
    tax_minor: int


class InvoiceSummaryOut(BaseModel):
    id: UUID
    number: str | None = Field(description="Assigned at issue; drafts have none.")
    client_id: UUID
    client: dict[str, Any] = Field(description="Client block as printed (frozen at drafting).")
    currency: str
    status: str
    payment_status: str
    collection_status: str
    period_start: date | None
    period_end: date | None
    group_by: str
    tax_rounding: str
    discount: DiscountOut | None
    payment_terms_days: int
    due_date: date | None
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    amount_paid_minor: int
    amount_credited_minor: int
    amount_written_off_minor: int
    balance_minor: int = Field(description="total - paid - credited - written off.")
    notes: str | None
    void_reason: str | None
    billing_run_id: UUID | None
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime
    issued_at: AwareDatetime | None
    voided_at: AwareDatetime | None
    partially_paid_at: AwareDatetime | None
    paid_at: AwareDatetime | None
    overdue_at: AwareDatetime | None
    written_off_at: AwareDatetime | None

    @classmethod
    def fields_of(cls, i: Invoice) -> dict[str, Any]:
        fields = {name: getattr(i, name) for name in cls.model_fields if hasattr(i, name)}
        fields["client"] = i.client_snapshot
        fields["discount"] = (
            DiscountOut(kind=i.discount_kind, value=i.discount_value)
            if i.discount_kind and i.discount_value is not None
            else None
        )
        return fields

    @classmethod
    def of(cls, i: Invoice) -> InvoiceSummaryOut:
        return cls(**cls.fields_of(i))


class InvoiceOut(InvoiceSummaryOut):
    seller: dict[str, Any] | None = Field(description="Seller block, frozen at issue.")
    lines: list[LineOut]
    taxes: list[TaxTotalOut] = Field(description="Per tax rate: taxable base and tax.")

    @classmethod
    def of_view(cls, view: InvoiceView) -> InvoiceOut:
        return cls.build(view.invoice, list(view.lines), list(view.entries))

    @classmethod
    def build(
        cls, invoice: Invoice, lines: list[InvoiceLine], entries: list[BilledEntry]
    ) -> InvoiceOut:
        by_line: dict[UUID, list[UUID]] = {}
        for entry in entries:
            by_line.setdefault(entry.line_id, []).append(entry.entry_id)
        taxes: dict[UUID, TaxTotalOut] = {}
        for line in lines:
            if line.tax_rate_id is None:
                continue
            known = taxes.get(line.tax_rate_id)
            taxes[line.tax_rate_id] = TaxTotalOut(
                tax_rate_id=line.tax_rate_id,
                name=line.tax_name or "",
                percent=line.tax_percent or Decimal(0),
                treatment=line.tax_treatment or "standard",
                taxable_minor=(known.taxable_minor if known else 0)
                + line.amount_minor
                - line.discount_minor,
                tax_minor=(known.tax_minor if known else 0) + line.tax_minor,
            )
        return cls(
            **cls.fields_of(invoice),
            seller=invoice.seller_snapshot,
            lines=[LineOut.of(line, by_line.get(line.id, [])) for line in lines],
            taxes=list(taxes.values()),
        )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=InvoiceOut)
async def draft_invoice(
    body: InvoiceIn,
    request: Request,
    runtime: RuntimeDep,
    identity: Manager,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Drafts from the client's unbilled billable time (in the period, if given) plus manual
    lines. The draft reserves its time; deleting it releases the time again. With an
    `Idempotency-Key`, a retry replays the first answer (its own draft is rolled back)."""
    cmd = body.command()

    async def work(conn: Connection) -> InvoiceView:
        return await handlers.draft_in(conn, runtime, identity.tenant_id, cmd)

    def render(view: InvoiceView) -> Stored:
        return stored_json(
            status.HTTP_201_CREATED,
            InvoiceOut.of_view(view).model_dump(mode="json"),
            {"ETag": etag(view.invoice.version), "Location": f"/v1/invoices/{view.invoice.id}"},
        )

    return await once_per_key(request, runtime, identity, idempotency_key, work=work, render=render)


@router.get("", response_model=Page[InvoiceSummaryOut])
async def list_invoices(
    runtime: RuntimeDep,
    identity: Reader,
    client_id: UUID | None = None,
    status: Annotated[Literal["draft", "issued", "void"] | None, Query()] = None,
    payment_status: Annotated[Literal["unpaid", "partially_paid", "paid"] | None, Query()] = None,
    collection_status: Annotated[
        Literal["current", "overdue", "uncollectible"] | None, Query()
    ] = None,
    number: Annotated[str | None, Query(max_length=40)] = None,
    billing_run_id: UUID | None = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[InvoiceSummaryOut]:
    query = lists.query_of(invoice_rows.INVOICES, Invoice)
    for column, value in (
        ("client_id", client_id),
        ("status", status),
        ("payment_status", payment_status),
        ("collection_status", collection_status),
        ("number", number),
        ("billing_run_id", billing_run_id),
    ):
        lists.equals(query, column, value)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await fetch_page(
            conn,
            query,
            invoice_rows.invoice_of,
            sort=sort,
            allowed=lists.CREATED,
            default_sort="-created_at",
            cursor=cursor,
            limit=limit,
        )
    return found.map(InvoiceSummaryOut.of)


class NumberedOut(BaseModel):
    sequence: int
    number: str
    document_id: UUID
    status: str
    issued_at: AwareDatetime | None


class SequenceReportOut(BaseModel):
    series: Literal["invoice", "credit_note"]
    prefix: str
    year: int
    last_value: int = Field(description="Highest sequence the series handed out.")
    documents: list[NumberedOut] = Field(description="Every number of the series, in order.")
    gaps: list[int] = Field(description="Sequences 1..last_value with no document (none).")
    duplicates: list[int] = Field(description="Sequences on more than one document (none).")
    intact: bool = Field(description="No gap and no duplicate.")


@router.get("/sequence-report", response_model=SequenceReportOut)
async def sequence_report(
    runtime: RuntimeDep,
    identity: Reader,
    series: Literal["invoice", "credit_note"] = "invoice",
    prefix: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{1,10}$")] = None,
    year: Annotated[int | None, Query(ge=1970, le=9999)] = None,
) -> SequenceReportOut:
    """Every number of one series and year with its document, and any gap or duplicate.
    Defaults: the tenant's current prefix for the series, this year in its timezone."""
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        settings = await settings_rows.get(conn, identity.tenant_id)
        prefix = prefix or (
            settings.invoice_prefix if series == "invoice" else settings.credit_note_prefix
        )
        year = year or local_date(runtime.clock(), settings.zone).year
        last, found = await invoice_rows.series_numbers(conn, series, prefix, year)
    documents = [
        NumberedOut(
            sequence=int(r["number"].rsplit("-", 1)[1]),
            number=r["number"],
            document_id=r["id"],
            status=r["status"],
            issued_at=r["issued_at"],
        )
        for r in found
    ]
    counts = Counter(d.sequence for d in documents)
    gaps = [n for n in range(1, last + 1) if n not in counts]
    duplicates = sorted(n for n, c in counts.items() if c > 1)
    return SequenceReportOut(
        series=series,
        prefix=prefix,
        year=year,
        last_value=last,
        documents=documents,
        gaps=gaps,
        duplicates=duplicates,
        intact=not gaps and not duplicates,
    )


@router.get("/{invoice_id}", response_model=InvoiceOut)
async def get_invoice(
    invoice_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> InvoiceOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        invoice = await invoice_rows.get(conn, invoice_id)
        if invoice is None:
            raise InvoiceNotFound(f"no invoice {invoice_id}")
        lines = await invoice_rows.lines_of(conn, invoice_id)
        entries = await invoice_rows.entries_of(conn, invoice_id)
    versioned(response, invoice.version)
    return InvoiceOut.build(invoice, lines, entries)


@router.get(
    "/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The invoice as PDF."}},
)
async def invoice_pdf(invoice_id: UUID, runtime: RuntimeDep, identity: Reader) -> Response:
    """Issued and void invoices (void ones carry a VOID banner); 409 for a draft."""
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        invoice = await invoice_rows.get(conn, invoice_id)
        if invoice is None:
            raise InvoiceNotFound(f"no invoice {invoice_id}")
        require_status(invoice, "issued", "void", action="print")
        lines = await invoice_rows.lines_of(conn, invoice_id)
    # WeasyPrint takes a few hundred ms of CPU: off the event loop.
    pdf = await asyncio.to_thread(render_pdf, invoice_document(invoice, lines))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
    )


@router.delete("/{invoice_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_draft(
    invoice_id: UUID, runtime: RuntimeDep, identity: Manager, if_match: IfMatch = None
) -> Response:
    """Drafts only; an issued invoice is voided instead (409 here)."""
    await handlers.delete_draft(runtime, identity, invoice_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{invoice_id}/issue", response_model=InvoiceOut)
async def issue_invoice(
    invoice_id: UUID,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> InvoiceOut:
    """Numbers the draft (gapless per series and year), freezes it, locks its time entries
    and publishes `invoice.issued`. 409 when not a draft, or when its time changed."""
    view = await handlers.issue_invoice(runtime, identity, invoice_id, if_match=if_match)
    versioned(response, view.invoice.version)
    return InvoiceOut.of_view(view)


@router.post("/{invoice_id}/void", response_model=InvoiceSummaryOut)
async def void_invoice(
    invoice_id: UUID,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    body: ReasonIn | None = None,
    if_match: IfMatch = None,
) -> InvoiceSummaryOut:
    """Issued, unpaid invoices only. Keeps the number; the time becomes billable again."""
    reason = body.reason if body else None
    invoice = await handlers.void_invoice(
        runtime, identity, invoice_id, reason=reason, if_match=if_match
    )
    versioned(response, invoice.version)
    return InvoiceSummaryOut.of(invoice)


@router.post("/{invoice_id}/write-off", response_model=InvoiceSummaryOut)
async def write_off_invoice(
    invoice_id: UUID,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    body: ReasonIn | None = None,
    if_match: IfMatch = None,
) -> InvoiceSummaryOut:
    """The remaining balance becomes uncollectible (collection status), once."""
    reason = body.reason if body else None
    invoice = await handlers.write_off_invoice(
        runtime, identity, invoice_id, reason=reason, if_match=if_match
    )
    versioned(response, invoice.version)
    return InvoiceSummaryOut.of(invoice)
