"""A provider's payment recorded by a person: one whose event could not apply (listed as
`rejected`: its invoice unknown for an hour, a metadata typo, another currency), recorded
once a person knows where its money belongs.

It gets the id the provider's events derive for that payment, so the provider's later
events (its refunds, disputes) find it and no refund of it is made here (the provider holds
the money), and the rejected event counts as settled in reconciliation.
"""

from __future__ import annotations

import dataclasses

from contracts.money import MAX_MINOR
from payments.db import payments as payment_rows
from payments.db import providers as provider_rows
from payments.domain.payments import Payment, PaymentsError
from payments.domain.providers import ProviderEvent, payment_uuid
from payments.handlers.payments import RecordPayment, record_payment, same_money
from servicekit.db import Connection
from servicekit.problems import ConflictError
from servicekit.service import Runtime


class ProviderPaymentRefused(PaymentsError, ConflictError):
    slug = "provider-payment-refused"
    title = "This provider payment cannot be recorded so"


class ProviderPaymentRecorded(PaymentsError, ConflictError):
    slug = "provider-payment-recorded"
    title = "This provider payment is recorded already, differently"


async def record_provider_payment(
    conn: Connection, runtime: Runtime, cmd: RecordPayment, provider: str, provider_ref: str
) -> Payment:
    """`cmd` as the payment of the provider's `provider_ref`, once: only for a PaymentIntent
    whose event was rejected (and not resolved by hand), for the money it reported;
    recorded again (a retry) it answers the payment stored, if it is the same money."""
    payment_id = payment_uuid(cmd.tenant_id, provider, provider_ref)
    cmd = dataclasses.replace(cmd, payment_id=payment_id, reference=provider_ref)
    if await payment_rows.payment(conn, payment_id) is not None:
        return await _recorded_once(conn, runtime, cmd, provider_ref)
    listed = await provider_rows.rejected_intent(conn, payment_id)
    if listed is None:
        raise ProviderPaymentRefused(
            f"no rejected event of {provider_ref} here: a PaymentIntent is recorded from "
            "its own event; name one only to settle a rejected one",
            errors=[{"pointer": "#/provider_payment_id", "detail": "not a rejected one"}],
        )
    if listed.resolved_at is not None:
        raise ProviderPaymentRefused(
            f"its rejected event was resolved by hand by {listed.resolved_by}: "
            f"{listed.resolution_note}"
        )
    _matches_reported(listed, cmd)
    return await _recorded_once(conn, runtime, cmd, provider_ref)


async def _recorded_once(
    conn: Connection, runtime: Runtime, cmd: RecordPayment, provider_ref: str
) -> Payment:
    """Recorded, or (its id is the provider's) the stored payment back unchanged, if it is
    the same money."""
    done = await record_payment(conn, runtime, cmd)
    if not same_money(done, cmd):
        raise ProviderPaymentRecorded(
            f"{provider_ref} is recorded already: {done.amount_minor} {done.currency} "
            f"on invoice {done.invoice_id} (payment {done.id})"
        )
    return done


def _matches_reported(listed: ProviderEvent, cmd: RecordPayment) -> None:
    """The money as the provider reported it; one whose money could not be read is not
    recorded here (a person resolves it by hand)."""
    if listed.amount_minor is None or listed.currency is None:
        raise ProviderPaymentRefused(
            f"the money of {cmd.reference} could not be read from its event: record it "
            "without provider_payment_id and resolve the event by hand"
        )
    if listed.amount_minor > MAX_MINOR:
        raise ProviderPaymentRefused(
            f"{cmd.reference} was reported for {listed.amount_minor}, more than one payment "
            "can hold: resolve the event by hand"
        )
    if listed.currency != cmd.currency:
        raise ProviderPaymentRefused(
            f"{cmd.reference} was reported in {listed.currency}",
            errors=[{"pointer": "#/currency", "detail": f"must be {listed.currency}"}],
        )
    if listed.amount_minor != cmd.amount_minor:
        raise ProviderPaymentRefused(
            f"{cmd.reference} was reported for {listed.amount_minor}",
            errors=[{"pointer": "#/amount_minor", "detail": f"must be {listed.amount_minor}"}],
        )
