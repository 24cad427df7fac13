"""`/v1/payments` routes and their HTTP schemas."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts.events.payments import PaymentMethod
from contracts.money import MAX_MINOR, CurrencyCode
from payments.db import payments as rows
from payments.domain.credit import CREDIT_METHOD
from payments.domain.payments import (
    InvoiceNotFound,
    Payment,
    PaymentNotFound,
    Refund,
    RefundNotFound,
)
from payments.domain.providers import STRIPE
from payments.handlers import payments as handlers
from payments.handlers.provider_payments import record_provider_payment
from payments.handlers.provider_refunds import record_provider_refund
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
from servicekit.identity import Identity
from servicekit.pagination import Page
from servicekit.problems import FieldInvalid
from servicekit.service import Runtime
from servicekit.versioning import etag

router = APIRouter(tags=["payments"])


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: UUID
    amount_minor: int = Field(gt=0, le=MAX_MINOR, description="Minor units of `currency`.")
    currency: CurrencyCode = Field(description="Must be the invoice's currency.")
    method: PaymentMethod
    received_at: AwareDatetime | None = Field(None, description="Default: now.")
    reference: str | None = Field(None, max_length=200, description="Bank or provider ref.")
    notes: str | None = Field(None, max_length=2000)
    status: Literal["succeeded", "pending"] = Field(
        "succeeded", description="pending: settle later with /succeed or /fail."
    )
    excess: Literal["credit_balance", "reject"] = Field(
        "credit_balance",
        description="More than the invoice owes (or a void or paid invoice): keep the rest as "
        "the client's credit balance, or refuse the payment (409).",
    )
    provider_payment_id: str | None = Field(
        None,
        pattern=r"^pi_[A-Za-z0-9]{1,252}$",
        description="For money Stripe took: the PaymentIntent (`pi_…`) this records, one "
        "whose `payment_intent.succeeded` could not apply (listed `rejected`, not resolved; "
        "else 409 `provider-payment-refused`), for the money it reported. The payment "
        "gets the id its events derive: its Stripe refunds and disputes then find it, it is "
        "refunded in Stripe (409 `refund-at-provider` here), and the rejected event counts "
        "as settled. Its `reference` is the PaymentIntent; `status` must be succeeded.",
    )

    @field_validator("method")
    @classmethod
    def _money_from_outside(cls, method: PaymentMethod) -> PaymentMethod:
        if method == CREDIT_METHOD:
            raise ValueError(
                "credit is spent with POST /v1/clients/{id}/credit-balance/applications"
            )
        return method


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: int = Field(gt=0, le=MAX_MINOR)
    reason: str | None = Field(None, max_length=1000)
    provider_refund_id: str | None = Field(
        None,
        pattern=r"^(re|pyr|dp)_[A-Za-z0-9]{1,255}$",
        description="For money Stripe holds: the Stripe refund (`re_…`, `pyr_…`) or dispute "
        "(`dp_…`) "
        "being recorded, one its events could not apply. Its later events then change "
        "nothing, or pay it back if it fails.",
    )


class PaymentOut(BaseModel):
    id: UUID
    invoice_id: UUID
    client_id: UUID
    currency: str
    amount_minor: int
    applied_minor: int = Field(description="On the invoice.")
    to_credit_minor: int = Field(description="To the client's credit balance.")
    refunded_minor: int
    method: str
    excess: str
    received_at: AwareDatetime
    reference: str | None
    notes: str | None
    status: str
    version: int
    created_at: AwareDatetime
    updated_at: AwareDatetime
    succeeded_at: AwareDatetime | None
    failed_at: AwareDatetime | None
    credit_application_id: UUID | None = Field(
        description="Set when the money came from the client's credit balance."
    )

    @classmethod
    def of(cls, p: Payment) -> PaymentOut:
        return cls.model_validate(p, from_attributes=True)


class RefundOut(BaseModel):
    id: UUID
    payment_id: UUID
    invoice_id: UUID
    amount_minor: int = Field(description="Minor units of the payment's currency.")
    reason: str | None
    destination: Literal["client", "credit_balance"] = Field(
        description="Where the money went: back to the client, or into their credit balance."
    )
    created_at: AwareDatetime
    provider: str | None = Field(description="Set when a payment provider holds the money.")
    provider_refund_id: str | None = Field(
        description="The provider's refund or dispute (`re_…`, `pyr_…`, `dp_…`) recorded."
    )
    provider_state: Literal["recorded", "failed"] | None = Field(
        description="failed: the provider gave the money back after all, and it was paid "
        "back onto the invoice as a payment."
    )

    @classmethod
    def of(cls, r: Refund) -> RefundOut:
        return cls.model_validate(r, from_attributes=True)


def stored_payment(
    code: int, payment: Payment, *, location: str | None = None, **extra: Any
) -> Stored:
    body = {**PaymentOut.of(payment).model_dump(mode="json"), **extra}
    headers = {
        "ETag": etag(payment.version),
        "Location": location or f"/v1/payments/{payment.id}",
    }
    return stored_json(code, body, headers)


@router.post("/v1/payments", status_code=status.HTTP_201_CREATED, response_model=PaymentOut)
async def record_payment(
    body: PaymentIn,
    request: Request,
    runtime: RuntimeDep,
    identity: Manager,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Money for an issued invoice; a succeeded payment publishes `payment.received` for the
    part on the invoice. Send an `Idempotency-Key`: a retry then records nothing twice."""
    cmd = handlers.RecordPayment(
        tenant_id=identity.tenant_id,
        payment_id=runtime.new_id(),
        invoice_id=body.invoice_id,
        amount_minor=body.amount_minor,
        currency=body.currency,
        method=body.method.value,
        received_at=body.received_at or runtime.clock(),
        reference=body.reference,
        notes=body.notes,
        status=body.status,
        excess=body.excess,
    )

    if body.provider_payment_id is not None:
        if body.reference not in (None, body.provider_payment_id):
            raise FieldInvalid("reference", "is the provider_payment_id: leave it out")
        if body.status != "succeeded":
            raise FieldInvalid("status", "a PaymentIntent's money is recorded as succeeded")

    async def work(conn: Connection) -> Payment:
        try:
            if body.provider_payment_id is not None:
                return await record_provider_payment(
                    conn, runtime, cmd, STRIPE, body.provider_payment_id
                )
            return await handlers.record_payment(conn, runtime, cmd)
        except InvoiceNotFound as exc:
            # The route exists; the body names an invoice payments does not know.
            detail = "no issued invoice with this id (or its invoice.issued is not here yet)"
            raise InvoiceNotFound(
                exc.detail, errors=[{"pointer": "#/invoice_id", "detail": detail}]
            ) from None

    return await once_per_key(
        request,
        runtime,
        identity,
        idempotency_key,
        work=work,
        render=lambda p: stored_payment(status.HTTP_201_CREATED, p),
    )


@router.get("/v1/payments", response_model=Page[PaymentOut])
async def list_payments(
    runtime: RuntimeDep,
    identity: Reader,
    invoice_id: UUID | None = None,
    client_id: UUID | None = None,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[PaymentOut]:
    query = lists.query_of(rows.PAYMENTS, Payment)
    lists.equals(query, "invoice_id", invoice_id)
    lists.equals(query, "client_id", client_id)
    lists.equals(query, "status", status)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.newest_first(
            conn, query, Payment, sort=sort, cursor=cursor, limit=limit
        )
    return found.map(PaymentOut.of)


@router.get("/v1/payments/{payment_id}", response_model=PaymentOut)
async def get_payment(
    payment_id: UUID, response: Response, runtime: RuntimeDep, identity: Reader
) -> PaymentOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await rows.payment(conn, payment_id)
    if found is None:
        raise PaymentNotFound(f"no payment {payment_id}")
    versioned(response, found.version)
    return PaymentOut.of(found)


async def _settle(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    idempotency_key: str | None,
    payment_id: UUID,
    outcome: Literal["succeeded", "failed"],
) -> Response:
    async def work(conn: Connection) -> Payment:
        return await handlers.settle(conn, runtime, payment_id, outcome)

    return await once_per_key(
        request,
        runtime,
        identity,
        idempotency_key,
        work=work,
        render=lambda p: stored_payment(status.HTTP_200_OK, p),
    )


@router.post("/v1/payments/{payment_id}/succeed", response_model=PaymentOut)
async def payment_succeeded(
    payment_id: UUID,
    request: Request,
    runtime: RuntimeDep,
    identity: Manager,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A pending payment arrived: apportioned against what the invoice owes now, and
    published. Send an `Idempotency-Key`: a retry after a lost answer replays it instead of
    a 409 for a payment no longer pending."""
    return await _settle(request, runtime, identity, idempotency_key, payment_id, "succeeded")


@router.post("/v1/payments/{payment_id}/fail", response_model=PaymentOut)
async def payment_failed(
    payment_id: UUID,
    request: Request,
    runtime: RuntimeDep,
    identity: Manager,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await _settle(request, runtime, identity, idempotency_key, payment_id, "failed")


@router.post(
    "/v1/payments/{payment_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
)
async def refund_payment(
    payment_id: UUID,
    body: RefundIn,
    request: Request,
    runtime: RuntimeDep,
    identity: Manager,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Never more than the payment put on the invoice, net of earlier refunds; publishes
    `payment.refunded`. The answer is the payment, with `refund_id`; `Location` names the
    refund (`GET /v1/payments/{id}/refunds/{refund_id}`). Money Stripe holds is
    refunded in Stripe and recorded from its events (409 `refund-at-provider` here); a
    Stripe refund its events could not apply is recorded by naming it
    (`provider_refund_id`)."""

    refund_id = runtime.new_id()

    async def work(conn: Connection) -> tuple[Payment, UUID]:
        if body.provider_refund_id is None:
            return await handlers.refund(
                conn, runtime, payment_id, body.amount_minor, body.reason, refund_id
            )
        payment = await rows.payment(conn, payment_id)
        if payment is None:
            raise PaymentNotFound(f"no payment {payment_id}")
        return await record_provider_refund(
            conn, runtime, payment, body.provider_refund_id, body.amount_minor, body.reason
        )

    return await once_per_key(
        request,
        runtime,
        identity,
        idempotency_key,
        work=work,
        render=lambda done: stored_payment(
            status.HTTP_201_CREATED,
            done[0],
            location=f"/v1/payments/{done[0].id}/refunds/{done[1]}",
            refund_id=str(done[1]),
        ),
    )


@router.get("/v1/payments/{payment_id}/refunds", response_model=Page[RefundOut])
async def list_refunds(
    payment_id: UUID,
    runtime: RuntimeDep,
    identity: Reader,
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[RefundOut]:
    """The payment's refunds, newest first (`sort=created_at` for oldest first)."""
    query = lists.query_of(rows.REFUNDS, Refund)
    lists.equals(query, "payment_id", payment_id)
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        if await rows.payment(conn, payment_id) is None:
            raise PaymentNotFound(f"no payment {payment_id}")
        found = await lists.newest_first(conn, query, Refund, sort=sort, cursor=cursor, limit=limit)
    return found.map(RefundOut.of)


@router.get("/v1/payments/{payment_id}/refunds/{refund_id}", response_model=RefundOut)
async def get_refund(
    payment_id: UUID, refund_id: UUID, runtime: RuntimeDep, identity: Reader
) -> RefundOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await rows.refund(conn, payment_id, refund_id)
    if found is None:
        raise RefundNotFound(f"no refund {refund_id} of payment {payment_id}")
    return RefundOut.of(found)
