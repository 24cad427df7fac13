"""A provider's payment recorded by a person: one whose event could not apply (listed as
`rejected`: its invoice unknown for an hour, a metadata typo, another currency), recorded
once a person knows where its money belongs.

It gets the id the provider's events derive for that payment, so the provider's later
events (its refunds, disputes) find it and no refund of it is made here (the provider holds
the money), and the rejected event counts as settled in reconciliation.
"""

from __future__ import annotations

import dataclasses

from payments.domain.payments import Payment, PaymentsError
from payments.domain.providers import payment_uuid
from payments.handlers.payments import RecordPayment, record_payment
from servicekit.db import Connection
from servicekit.problems import ConflictError
from servicekit.service import Runtime


class ProviderPaymentRecorded(PaymentsError, ConflictError):
    slug = "provider-payment-recorded"
    title = "This provider payment is recorded already, differently"


async def record_provider_payment(
    conn: Connection, runtime: Runtime, cmd: RecordPayment, provider: str, provider_ref: str
) -> Payment:
    """`cmd` as the payment of the provider's `provider_ref`, once: recorded again (a retry,
    or its event applied after all) it answers the payment stored, if it is the same money."""
    cmd = dataclasses.replace(
        cmd,
        payment_id=payment_uuid(cmd.tenant_id, provider, provider_ref),
        reference=provider_ref,
    )
    # Stored before (its id is the provider's): the stored payment comes back unchanged.
    done = await record_payment(conn, runtime, cmd)
    if (done.invoice_id, done.amount_minor, done.currency) != (
        cmd.invoice_id,
        cmd.amount_minor,
        cmd.currency,
    ):
        raise ProviderPaymentRecorded(
            f"{provider_ref} is recorded already: {done.amount_minor} {done.currency} "
            f"on invoice {done.invoice_id} (payment {done.id})"
        )
    return done
