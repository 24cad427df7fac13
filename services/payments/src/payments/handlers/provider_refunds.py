"""A provider's refund recorded by a person: one its events could not apply (listed as
`rejected`), or one made while its webhook was not set up.

It takes the same `provider_refunds` row, and the same refund id, as the provider's events
about it: a later event that the refund succeeded finds it recorded and changes nothing,
and a later failure pays it back onto the invoice once, as it would for one the webhook
recorded.
"""

from __future__ import annotations

from uuid import UUID

from payments.db import payments as payment_rows
from payments.db import providers as rows
from payments.domain.payments import Payment, RefundRefused
from payments.domain.providers import provider_of, refund_uuid
from payments.handlers.payments import refund
from servicekit.db import Connection
from servicekit.problems import FieldInvalid
from servicekit.service import Runtime


async def record_provider_refund(  # noqa: PLR0917
    conn: Connection,
    runtime: Runtime,
    payment: Payment,
    provider_refund_id: str,
    amount_minor: int,
    reason: str | None,
) -> tuple[Payment, UUID]:
    """`payment` (as read before its lock: its id and reference never change) refunded by
    the provider's refund `provider_refund_id`, once whatever reports it."""
    provider = provider_of(payment)
    if provider is None:
        raise FieldInvalid(
            "provider_refund_id",
            "this payment was recorded here, not by a provider: refund it without one",
        )
    ref, now = provider_refund_id, runtime.clock()
    refund_id = refund_uuid(payment.tenant_id, provider, ref)
    state, recorded_minor = await rows.refund_state(conn, payment.tenant_id, provider, ref, now)
    if state == "recorded":
        if recorded_minor != amount_minor:
            raise RefundRefused(
                f"{ref} was recorded before, for {recorded_minor}",
                errors=[{"pointer": "#/amount_minor", "detail": f"{ref} was {recorded_minor}"}],
            )
        if (taken_from := await payment_rows.refunded_payment_id(conn, refund_id)) != payment.id:
            raise RefundRefused(f"{ref} was recorded before, on payment {taken_from}")
        # The same refund again (a retry, or the webhook was first): nothing moves.
        return await refund(
            conn, runtime, payment.id, amount_minor, reason, refund_id, by_provider=True
        )
    if state == "failed":
        raise RefundRefused(f"{ref} failed at {provider}: no money left, so none is taken")
    if state == "rejected":
        await _matches_rejected(conn, payment, ref, refund_id, amount_minor, recorded_minor)
    done = await refund(
        conn,
        runtime,
        payment.id,
        amount_minor,
        reason or f"{provider.capitalize()} {ref}, recorded by hand",
        refund_id,
        by_provider=True,
    )
    await rows.set_refund_state(
        conn, payment.tenant_id, provider, ref, "recorded", now, refund_id, amount_minor
    )
    return done


async def _matches_rejected(  # noqa: PLR0917
    conn: Connection,
    payment: Payment,
    ref: str,
    refund_id: UUID,
    amount_minor: int,
    reported_minor: int | None,
) -> None:
    """A refund the provider's events reported (and were refused) is recorded as reported:
    its amount, and on the invoice of the payment they named (or a payment back there)."""
    if reported_minor is not None and amount_minor != reported_minor:
        raise RefundRefused(
            f"{ref} was reported for {reported_minor}",
            errors=[{"pointer": "#/amount_minor", "detail": f"{ref} was {reported_minor}"}],
        )
    named_id = await rows.rejected_event_payment_id(conn, refund_id)
    named = None if named_id is None else await payment_rows.payment(conn, named_id)
    if named is not None and named.invoice_id != payment.invoice_id:
        raise RefundRefused(
            f"{ref} refunded payment {named.id}, of invoice {named.invoice_id}: record it "
            "there, on that payment or a payment back of it"
        )
