"""`/v1/credit-notes` routes and their HTTP schemas."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Self
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from invoicing.db import credit_notes as note_rows
from invoicing.domain.credit_notes import CreditNote, CreditNoteLine
from invoicing.domain.errors import CreditNoteNotFound
from invoicing.handlers import credit_notes as handlers
from invoicing.handlers.credit_notes import CreditNoteView
from invoicing.views.documents import credit_note_document
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
from servicekit.versioning import etag

router = APIRouter(prefix="/v1/credit-notes", tags=["credit notes"])


class CreditLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_line_id: UUID
    amount_minor: int = Field(gt=0, le=10**15, description="Net amount credited (before tax).")


class CreditNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: UUID
    reason: str | None = Field(None, max_length=1000, description="Printed on the note.")
    full: bool = Field(False, description="Credit everything still creditable on the invoice.")
    lines: list[CreditLineIn] = Field(
        default_factory=list, max_length=500, description="Lines and net amounts to credit."
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.full == bool(self.lines):
            raise ValueError("give either full: true or lines, not both and not neither")
        return self


class CreditNoteLineOut(BaseModel):
    id: UUID
    position: int
    invoice_line_id: UUID
    description: str
    project_id: UUID | None
    amount_minor: int
    tax_rate_id: UUID | None
    tax_name: str | None
    tax_percent: Decimal | None
    tax_treatment: str | None
    tax_minor: int


class CreditNoteSummaryOut(BaseModel):
    id: UUID
    number: str
    invoice_id: UUID
    invoice_number: str
    client_id: UUID
    currency: str
    reason: str | None
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    version: int
    created_at: AwareDatetime
    issued_at: AwareDatetime

    @classmethod
    def of(cls, n: CreditNote) -> CreditNoteSummaryOut:
        return cls.model_validate(n, from_attributes=True)


class CreditNoteOut(CreditNoteSummaryOut):
    lines: list[CreditNoteLineOut]

    @classmethod
    def build(
        cls, n: CreditNote, lines: tuple[CreditNoteLine, ...] | list[CreditNoteLine]
    ) -> CreditNoteOut:
        return cls(
            **CreditNoteSummaryOut.of(n).model_dump(),
            lines=[CreditNoteLineOut.model_validate(line, from_attributes=True) for line in lines],
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CreditNoteOut,
    responses={422: {"description": "Invalid, or the Idempotency-Key was used for another body"}},
)
async def issue_credit_note(
    body: CreditNoteIn,
    request: Request,
    runtime: RuntimeDep,
    identity: Manager,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Issued at once, numbered in the credit-note series; lowers the invoice's balance. Tax
    is credited in proportion; crediting the rest of a line credits exactly the rest of its
    tax. With an `Idempotency-Key`, a retry replays the first answer and credits nothing."""
    requested = None if body.full else [(x.invoice_line_id, x.amount_minor) for x in body.lines]

    async def work(conn: Connection) -> CreditNoteView:
        return await handlers.issue_credit_note_in(
            conn, runtime, body.invoice_id, requested, reason=body.reason
        )

    def render(view: CreditNoteView) -> Stored:
        return stored_json(
            status.HTTP_201_CREATED,
            CreditNoteOut.build(view.note, view.lines).model_dump(mode="json"),
            {
                "ETag": etag(view.note.version),
                "Location": f"/v1/credit-notes/{view.note.id}",
            },
        )

    return await once_per_key(request, runtime, identity, idempotency_key, work=work, render=render)


@router.get("", response_model=Page[CreditNoteSummaryOut])
async def list_credit_notes(
    runtime: RuntimeDep,
    identity: Reader,
    invoice_id: UUID | None = None,
    client_id: UUID | None = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[CreditNoteSummaryOut]:
    query = lists.query_of(note_rows.NOTES, CreditNote)
    lists.equals(query, "invoice_id", invoice_id)
    lists.equals(query, "client_id", client_id)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await fetch_page(
            conn,
            query,
            note_rows.note_of,
            sort=sort,
            allowed=lists.CREATED,
            default_sort="-created_at",
            cursor=cursor,
            limit=limit,
        )
    return found.map(CreditNoteSummaryOut.of)


async def _load(
    runtime: RuntimeDep, tenant_id: UUID, note_id: UUID
) -> tuple[CreditNote, list[CreditNoteLine]]:
    async with tenant_transaction(runtime.require_pool(), tenant_id) as conn:
        note = await note_rows.get(conn, note_id)
        if note is None:
            raise CreditNoteNotFound(f"no credit note {note_id}")
        return note, await note_rows.lines_of(conn, note_id)


@router.get("/{credit_note_id}", response_model=CreditNoteOut)
async def get_credit_note(
    credit_note_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> CreditNoteOut:
    note, lines = await _load(runtime, identity.tenant_id, credit_note_id)
    versioned(response, note.version)
    return CreditNoteOut.build(note, lines)


@router.get(
    "/{credit_note_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The note as PDF."}},
)
async def credit_note_pdf(credit_note_id: UUID, runtime: RuntimeDep, identity: Reader) -> Response:
    note, lines = await _load(runtime, identity.tenant_id, credit_note_id)
    pdf = await asyncio.to_thread(render_pdf, credit_note_document(note, lines))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{note.number}.pdf"'},
    )
