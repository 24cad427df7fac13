"""`/v1/clients/{id}/credit-balance`: the balance, its ledger, spending it, paying it out."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.money import MAX_MINOR, CurrencyCode
from payments.api.payments import PaymentOut
from payments.db import credit as credit_rows
from payments.db import payments as rows
from payments.domain.credit import CreditApplicationNotFound, CreditMovement
from payments.domain.payments import ClientNotFound
from payments.handlers import credit as handlers
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
)
from servicekit.db import Connection, tenant_transaction
from servicekit.idempotency import IdempotencyKey, stored_json
from servicekit.pagination import Page

router = APIRouter(tags=["credit balance"])
BASE = "/v1/clients/{client_id}/credit-balance"


class CurrencyBalanceOut(BaseModel):
    currency: str
    balance_minor: int
    movements: int


class CreditBalanceOut(BaseModel):
    client_id: UUID
    balances: list[CurrencyBalanceOut] = Field(description="Per currency; none when empty.")


class MovementOut(BaseModel):
    id: UUID
    currency: str
    amount_minor: int = Field(description="Positive adds to the balance, negative spends it.")
    kind: Literal["overpayment", "applied", "returned", "refunded"] = Field(
        description="overpayment: a payment's excess; applied: spent on an invoice; returned: "
        "a refund of such a payment gave it back; refunded: paid out to the client."
    )
    payment_id: UUID | None
    invoice_id: UUID | None
    reference_id: UUID | None = Field(description="The application or payout that moved it.")
    reason: str | None
    created_at: AwareDatetime


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: CurrencyCode
    invoice_ids: list[UUID] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Invoices to pay, in this order; default: every open invoice of the "
        "client in `currency`, oldest due date first.",
    )
    amount_minor: int | None = Field(
        None, gt=0, le=MAX_MINOR, description="Spend at most this much; default: all of it."
    )


class ApplicationOut(BaseModel):
    id: UUID
    client_id: UUID
    currency: str
    applied_minor: int
    balance_minor: int = Field(description="What is left of the balance.")
    created_at: AwareDatetime
    payments: list[PaymentOut] = Field(description="One per invoice paid, method credit_balance.")

    @classmethod
    def of(cls, a: handlers.Application) -> ApplicationOut:
        return cls(
            id=a.id,
            client_id=a.client_id,
            currency=a.currency,
            applied_minor=a.applied_minor,
            balance_minor=a.balance_minor,
            created_at=a.created_at,
            payments=[PaymentOut.of(p) for p in a.payments],
        )


class PayoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: CurrencyCode
    amount_minor: int = Field(gt=0, le=MAX_MINOR)
    reason: str | None = Field(None, max_length=1000)


class PayoutOut(BaseModel):
    id: UUID
    client_id: UUID
    currency: str
    amount_minor: int
    reason: str | None
    balance_minor: int = Field(description="What is left of the balance.")
    created_at: AwareDatetime


async def _known(conn: Connection, client_id: UUID) -> None:
    # A deleted client's credit stays readable: it is still theirs until paid out.
    if not await rows.client_known(conn, client_id):
        raise ClientNotFound(f"no client {client_id}")


@router.get(BASE, response_model=CreditBalanceOut)
async def credit_balance(
    client_id: UUID, runtime: RuntimeDep, identity: Reader
) -> CreditBalanceOut:
    """What overpayments left the client, per currency (none: nothing)."""
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        await _known(conn, client_id)
        balances = await rows.credit_balance(conn, client_id)
    return CreditBalanceOut(
        client_id=client_id, balances=[CurrencyBalanceOut(**b) for b in balances]
    )


@router.get(BASE + "/movements", response_model=Page[MovementOut])
async def movements(
    client_id: UUID,
    runtime: RuntimeDep,
    identity: Reader,
    currency: CurrencyCode | None = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[MovementOut]:
    """The balance's ledger: every movement, newest first unless sorted otherwise."""
    query = lists.query_of(credit_rows.MOVEMENTS, CreditMovement)
    lists.equals(query, "client_id", client_id)
    lists.equals(query, "currency", currency)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        await _known(conn, client_id)
        found = await lists.newest_first(
            conn, query, CreditMovement, sort=sort, cursor=cursor, limit=limit
        )
    return found.map(lambda m: MovementOut.model_validate(m, from_attributes=True))


@router.post(
    BASE + "/applications", status_code=status.HTTP_201_CREATED, response_model=ApplicationOut
)
async def apply_credit(
    client_id: UUID,
    body: ApplyIn,
    request: Request,
    runtime: RuntimeDep,
    identity: Manager,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Spend the client's credit on their invoices: each gets a payment (method
    `credit_balance`) of at most what it owes, published as `payment.received`. 409
    `nothing-to-apply` when there is no balance or nothing owed."""
    cmd = handlers.ApplyCredit(
        tenant_id=identity.tenant_id,
        application_id=runtime.new_id(),
        client_id=client_id,
        currency=body.currency,
        invoice_ids=None if body.invoice_ids is None else tuple(body.invoice_ids),
        cap_minor=body.amount_minor,
    )

    async def work(conn: Connection) -> handlers.Application:
        return await handlers.apply_credit(conn, runtime, cmd)

    return await once_per_key(
        request,
        runtime,
        identity,
        idempotency_key,
        work=work,
        render=lambda a: stored_json(
            status.HTTP_201_CREATED,
            ApplicationOut.of(a).model_dump(mode="json"),
            {"Location": f"/v1/clients/{client_id}/credit-balance/applications/{a.id}"},
        ),
    )


@router.get(BASE + "/applications/{application_id}", response_model=ApplicationOut)
async def get_application(
    client_id: UUID, application_id: UUID, runtime: RuntimeDep, identity: Reader
) -> ApplicationOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await handlers.application(conn, application_id)
    if found.client_id != client_id:
        raise CreditApplicationNotFound(f"no credit application {application_id} of this client")
    return ApplicationOut.of(found)


@router.post(BASE + "/refunds", status_code=status.HTTP_201_CREATED, response_model=PayoutOut)
async def pay_out_credit(
    client_id: UUID,
    body: PayoutIn,
    request: Request,
    runtime: RuntimeDep,
    identity: Manager,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Give credit back to the client: at most the balance (409 `credit-refund-refused`)."""
    cmd = handlers.PayOutCredit(
        tenant_id=identity.tenant_id,
        refund_id=runtime.new_id(),
        client_id=client_id,
        currency=body.currency,
        amount_minor=body.amount_minor,
        reason=body.reason,
    )

    async def work(conn: Connection) -> PayoutOut:
        return PayoutOut(**await handlers.pay_out(conn, runtime, cmd))

    return await once_per_key(
        request,
        runtime,
        identity,
        idempotency_key,
        work=work,
        render=lambda p: stored_json(status.HTTP_201_CREATED, p.model_dump(mode="json"), {}),
    )
