"""`/v1/providers/stripe`: the tenant's webhook secret, the webhook, the events it brought."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from payments.db import providers as rows
from payments.domain.providers import (
    STRIPE,
    EventNotFound,
    ProviderEvent,
    ProviderSettingsNotFound,
    StripeSettings,
)
from payments.handlers import provider_events, stripe_webhooks
from payments.handlers.provider_secrets import sealer_of
from servicekit import lists
from servicekit.api import (
    DEFAULT_PAGE,
    Cursor,
    Limit,
    Manager,
    Provider,
    Reader,
    RuntimeDep,
    SortParam,
)
from servicekit.db import Connection, in_tenant_transaction, tenant_transaction
from servicekit.pagination import Page
from servicekit.problems import ParameterInvalid

router = APIRouter(tags=["providers"])
webhook_router = APIRouter(tags=["providers"])


class StripeSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_secret: str = Field(
        pattern=r"^whsec_[A-Za-z0-9]{8,200}$",
        description="The endpoint's signing secret from Stripe's dashboard (`whsec_...`).",
    )


class StripeSettingsOut(BaseModel):
    provider: Literal["stripe"] = "stripe"
    secret_hint: str = Field(description="The secret's first and last characters only.")
    version: int
    updated_at: AwareDatetime

    @classmethod
    def of(cls, s: StripeSettings) -> StripeSettingsOut:
        return cls(secret_hint=s.secret_hint, version=s.version, updated_at=s.updated_at)


class ProviderEventOut(BaseModel):
    id: UUID
    provider: str
    event_id: str = Field(description="The provider's id (`evt_...`).")
    type: str
    livemode: bool
    outcome: Literal["applied", "ignored", "rejected"] = Field(
        description="applied: it made a payment or a refund; ignored: an event type we do "
        "not use, or a refund not succeeded (yet); rejected: it can never apply (listed for "
        "a person to settle)."
    )
    detail: str | None
    payment_id: UUID | None = Field(
        description="The payment it made, or the one refunded; on a rejected "
        "`payment_intent.succeeded`, the id the payment gets when a person records it "
        "(`provider_payment_id`)."
    )
    amount_minor: int | None = Field(
        description="On a rejected `payment_intent.succeeded`: the money Stripe reported, "
        "which recording it by hand must match."
    )
    currency: str | None
    refund_id: UUID | None = Field(
        description="The refund it recorded (`refund.*` and dispute events); on a rejected "
        "one, the id its refund gets when a person records it (`provider_refund_id`), after "
        "which reconciliation no longer lists it."
    )
    created_at: AwareDatetime
    resolved_at: AwareDatetime | None = Field(
        description="When a person resolved this rejected event by hand (see resolution)."
    )
    resolved_by: str | None
    resolution_note: str | None

    @classmethod
    def of(cls, e: ProviderEvent) -> ProviderEventOut:
        return cls.model_validate(e, from_attributes=True)


class ResolutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(
        min_length=1,
        max_length=1000,
        description='Why no recording settles it, e.g. "dispute dp_… withdrawn and reinstated: '
        'nets nothing".',
    )


class WebhookOut(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="This event was handled before; nothing changed.")
    event: ProviderEventOut


@router.put("/v1/providers/stripe", response_model=StripeSettingsOut)
async def put_stripe(
    body: StripeSettingsIn, runtime: RuntimeDep, identity: Manager
) -> StripeSettingsOut:
    """Set (or roll) the endpoint secret. During Stripe's roll both secrets sign each
    delivery, so setting the new one at any time in the overlap loses nothing. Stored sealed
    (AES-256-GCM under `PAYMENTS_SECRET_KEYS`, 503 when unset); never shown again."""
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        stored = await rows.put_stripe_settings(
            conn, sealer_of(runtime), identity.tenant_id, body.webhook_secret, runtime.clock()
        )
    return StripeSettingsOut.of(stored)


@router.get("/v1/providers/stripe", response_model=StripeSettingsOut)
async def get_stripe(runtime: RuntimeDep, identity: Reader) -> StripeSettingsOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        stored = await rows.stripe_settings(conn, sealer_of(runtime))
    if stored is None:
        raise ProviderSettingsNotFound("no Stripe webhook secret is set")
    return StripeSettingsOut.of(stored)


@router.delete("/v1/providers/stripe", status_code=status.HTTP_204_NO_CONTENT)
async def delete_stripe(runtime: RuntimeDep, identity: Manager) -> Response:
    """Stop accepting Stripe deliveries (they get 400 until a secret is set again)."""
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        if not await rows.delete_stripe_settings(conn):
            raise ProviderSettingsNotFound("no Stripe webhook secret is set")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@webhook_router.post("/v1/providers/stripe/webhook", response_model=WebhookOut)
async def stripe_webhook(
    request: Request,
    runtime: RuntimeDep,
    identity: Provider,
    tenant_id: Annotated[
        UUID, Query(description="The tenant whose endpoint this is (read by the gateway).")
    ],
    stripe_signature: Annotated[str | None, Header()] = None,
) -> WebhookOut:
    """Stripe's deliveries, unauthenticated at the gateway but signed: `Stripe-Signature`
    must verify with the tenant's secret within 300 s. A `payment_intent.succeeded` whose
    metadata `billstream_invoice_id` names an issued invoice becomes a payment (method card,
    ach or other from its payment method types, reference the PaymentIntent id, any excess to
    credit balance); an invoice not known yet is 404 (Stripe retries) for an hour, then
    `rejected`. A `refund.created`, `refund.updated` or `refund.failed` refunds the payment of
    its PaymentIntent once it says `succeeded` (a refund of that payment, published as
    `payment.refunded`; its payment not known yet is 404 for an hour, like an invoice); one
    for more than the payment has left is `rejected`; one failing after it was recorded pays
    its amount back onto the invoice, and one failing first keeps a late success from moving
    money. A dispute's `charge.dispute.funds_withdrawn` and `charge.dispute.funds_reinstated`
    move its money the same way.
    Other types are recorded as ignored. A redelivered event changes nothing
    (`duplicate: true`)."""
    body = await request.body()

    if tenant_id != identity.tenant_id:
        raise ParameterInvalid("tenant_id", "is not the tenant the gateway admitted")

    async def work(conn: Connection) -> tuple[ProviderEvent, bool]:
        return await stripe_webhooks.receive(
            conn, runtime, identity.tenant_id, body, stripe_signature
        )

    event, first = await in_tenant_transaction(runtime.require_pool(), identity.tenant_id, work)
    return WebhookOut(duplicate=not first, event=ProviderEventOut.of(event))


@router.get("/v1/providers/stripe/events", response_model=Page[ProviderEventOut])
async def stripe_events(
    runtime: RuntimeDep,
    identity: Reader,
    outcome: Literal["applied", "ignored", "rejected"] | None = None,
    type: str | None = Query(None, max_length=255, description="Stripe event type."),
    resolved: bool | None = Query(
        None, description="false with outcome=rejected: the events still to settle."
    ),
    sort: SortParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[ProviderEventOut]:
    """Every verified Stripe event and what became of it, newest first."""
    query = lists.query_of(rows.EVENTS, ProviderEvent)
    lists.equals(query, "provider", STRIPE)
    lists.equals(query, "outcome", outcome)
    lists.equals(query, "type", type)
    if resolved is not None:
        query.filter(f"resolved_at IS {'NOT ' if resolved else ''}NULL")
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await lists.newest_first(
            conn, query, ProviderEvent, sort=sort, cursor=cursor, limit=limit
        )
    return found.map(ProviderEventOut.of)


@router.get("/v1/providers/stripe/events/{provider_event_id}", response_model=ProviderEventOut)
async def stripe_event(
    provider_event_id: UUID, runtime: RuntimeDep, identity: Reader
) -> ProviderEventOut:
    """One event, by its `id` here (not Stripe's `evt_…`)."""
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await rows.event_by_id(conn, provider_event_id, lock=False)
    if found is None:
        raise EventNotFound(f"no provider event {provider_event_id}")
    return ProviderEventOut.of(found)


@router.post(
    "/v1/providers/stripe/events/{provider_event_id}/resolution",
    response_model=ProviderEventOut,
)
async def resolve_stripe_event(
    provider_event_id: UUID,
    body: ResolutionIn,
    runtime: RuntimeDep,
    identity: Manager,
) -> ProviderEventOut:
    """A rejected event no recording settles (both halves of a rejected withdrawal and
    reinstatement, money handled outside Billstream), resolved by hand with why:
    reconciliation no longer lists it. Only rejected events; once (the same note again
    answers the event; another is 409 `resolution-refused`). Where a recording settles it,
    record that instead (`provider_refund_id`, `provider_payment_id`)."""
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        done = await provider_events.resolve(
            conn, runtime, provider_event_id, body.note, identity.principal
        )
    return ProviderEventOut.of(done)
