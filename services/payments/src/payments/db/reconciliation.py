"""Per client and currency, what was invoiced, credited, paid, refunded and kept as credit
in a period, and every invoice whose money does not add up."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from payments.domain.stripe import PAYMENT_SUCCEEDED
from servicekit.db import Connection

TOTALS = """
WITH inv AS (
    SELECT r.client_id, r.currency, sum(r.total_minor) AS invoiced
    FROM receivables r
    WHERE r.issued_at >= $1 AND r.issued_at < $2
        AND NOT EXISTS (SELECT 1 FROM voided_invoices v WHERE v.invoice_id = r.invoice_id)
        AND ($3::uuid IS NULL OR r.client_id = $3)
    GROUP BY 1, 2
), cred AS (
    SELECT r.client_id, r.currency, sum(c.amount_minor) AS credited
    FROM receivable_credits c JOIN receivables r ON r.invoice_id = c.invoice_id
    WHERE r.issued_at >= $1 AND r.issued_at < $2 AND ($3::uuid IS NULL OR r.client_id = $3)
    GROUP BY 1, 2
), paid AS (
    SELECT client_id, currency, sum(applied_minor) AS paid, sum(to_credit_minor) AS to_credit,
        sum(applied_minor) FILTER (WHERE method = 'credit_balance') AS from_credit
    FROM payments
    WHERE status = 'succeeded' AND received_at >= $1 AND received_at < $2
        AND ($3::uuid IS NULL OR client_id = $3)
    GROUP BY 1, 2
), refunded AS (
    SELECT p.client_id, p.currency,
        sum(f.amount_minor) FILTER (WHERE f.destination = 'client') AS refunded,
        sum(f.amount_minor) FILTER (WHERE f.destination = 'credit_balance') AS returned
    FROM refunds f JOIN payments p ON p.id = f.payment_id
    WHERE f.created_at >= $1 AND f.created_at < $2 AND ($3::uuid IS NULL OR p.client_id = $3)
    GROUP BY 1, 2
), paid_out AS (
    SELECT client_id, currency, -sum(amount_minor) AS paid_out
    FROM credit_movements
    WHERE kind = 'refunded' AND created_at >= $1 AND created_at < $2
        AND ($3::uuid IS NULL OR client_id = $3)
    GROUP BY 1, 2
), keys AS (
    SELECT client_id, currency FROM inv UNION SELECT client_id, currency FROM cred
    UNION SELECT client_id, currency FROM paid UNION SELECT client_id, currency FROM refunded
    UNION SELECT client_id, currency FROM paid_out
)
SELECT k.client_id, k.currency,
    coalesce(inv.invoiced, 0)::bigint AS invoiced_minor,
    coalesce(cred.credited, 0)::bigint AS credited_minor,
    coalesce(paid.paid, 0)::bigint AS paid_minor,
    coalesce(paid.from_credit, 0)::bigint AS from_credit_minor,
    coalesce(refunded.refunded, 0)::bigint AS refunded_minor,
    coalesce(refunded.returned, 0)::bigint AS returned_to_credit_minor,
    coalesce(paid.to_credit, 0)::bigint AS to_credit_minor,
    coalesce(paid_out.paid_out, 0)::bigint AS credit_paid_out_minor,
    (SELECT coalesce(sum(m.amount_minor), 0) FROM credit_movements m
        WHERE m.client_id = k.client_id AND m.currency = k.currency)::bigint
        AS credit_balance_minor
FROM keys k
LEFT JOIN inv USING (client_id, currency)
LEFT JOIN cred USING (client_id, currency)
LEFT JOIN paid USING (client_id, currency)
LEFT JOIN refunded USING (client_id, currency)
LEFT JOIN paid_out USING (client_id, currency)
ORDER BY k.client_id, k.currency
"""

# Invoices of the period (issued in it, or whose money moved in it: a payment succeeded,
# whatever `received_at` the caller gave, or a refund was made; an invoice of January paid
# in February drifts in February's report) whose stored paid amount is not the sum of
# their succeeded payments' applied parts less refunds, that were paid past what they owe,
# or that are void with money on them.
MISMATCHES = """
WITH money AS (
    SELECT r.invoice_id, r.client_id, r.number, r.currency, r.total_minor, r.paid_minor,
        EXISTS (SELECT 1 FROM voided_invoices v WHERE v.invoice_id = r.invoice_id) AS void,
        (SELECT coalesce(sum(c.amount_minor), 0) FROM receivable_credits c
            WHERE c.invoice_id = r.invoice_id) AS credited,
        (SELECT coalesce(sum(p.applied_minor), 0) FROM payments p
            WHERE p.invoice_id = r.invoice_id AND p.status = 'succeeded') AS applied,
        (SELECT coalesce(sum(f.amount_minor), 0) FROM refunds f
            WHERE f.invoice_id = r.invoice_id) AS refunded
    FROM receivables r
    WHERE ($3::uuid IS NULL OR r.client_id = $3) AND (
        (r.issued_at >= $1 AND r.issued_at < $2)
        OR r.invoice_id IN (
            SELECT p.invoice_id FROM payments p
            WHERE coalesce(p.succeeded_at, p.created_at) >= $1
                AND coalesce(p.succeeded_at, p.created_at) < $2
            UNION SELECT f.invoice_id FROM refunds f WHERE f.created_at >= $1 AND f.created_at < $2
        )
    )
)
SELECT invoice_id, client_id, number, currency, total_minor, credited::bigint,
    paid_minor, applied::bigint, refunded::bigint, void
FROM money
WHERE paid_minor <> applied - refunded
    OR paid_minor > total_minor - credited
    OR (void AND paid_minor > 0)
ORDER BY number
LIMIT $4
"""


# Each client's credit ledger against what moved money into or out of it, over its whole
# life (a balance is never per period): overpayments against the succeeded payments' parts
# sent to credit, returns against the refunds sent to credit, applications against the
# payments made from credit; and a balance below zero.
CREDIT_MISMATCHES = """
WITH moved AS (
    SELECT client_id, currency, sum(amount_minor) AS balance,
        sum(amount_minor) FILTER (WHERE kind = 'overpayment') AS overpaid,
        sum(amount_minor) FILTER (WHERE kind = 'returned') AS returned,
        -sum(amount_minor) FILTER (WHERE kind = 'applied') AS applied
    FROM credit_movements WHERE $1::uuid IS NULL OR client_id = $1
    GROUP BY 1, 2
), paid AS (
    SELECT client_id, currency, sum(to_credit_minor) AS overpaid,
        sum(amount_minor) FILTER (WHERE method = 'credit_balance') AS applied
    FROM payments WHERE status = 'succeeded' AND ($1::uuid IS NULL OR client_id = $1)
    GROUP BY 1, 2
), back AS (
    SELECT p.client_id, p.currency, sum(f.amount_minor) AS returned
    FROM refunds f JOIN payments p ON p.id = f.payment_id
    WHERE f.destination = 'credit_balance' AND ($1::uuid IS NULL OR p.client_id = $1)
    GROUP BY 1, 2
), checked AS (
    SELECT k.client_id, k.currency,
        coalesce(m.balance, 0)::bigint AS balance_minor,
        coalesce(m.overpaid, 0)::bigint AS overpaid_moved,
        coalesce(p.overpaid, 0)::bigint AS overpaid_paid,
        coalesce(m.returned, 0)::bigint AS returned_moved,
        coalesce(b.returned, 0)::bigint AS returned_refunded,
        coalesce(m.applied, 0)::bigint AS applied_moved,
        coalesce(p.applied, 0)::bigint AS applied_paid
    FROM (SELECT client_id, currency FROM moved UNION SELECT client_id, currency FROM paid
        UNION SELECT client_id, currency FROM back) k
    LEFT JOIN moved m USING (client_id, currency)
    LEFT JOIN paid p USING (client_id, currency)
    LEFT JOIN back b USING (client_id, currency)
)
SELECT * FROM checked
WHERE overpaid_moved <> overpaid_paid OR returned_moved <> returned_refunded
    OR applied_moved <> applied_paid OR balance_minor < 0
ORDER BY client_id, currency
LIMIT $2
"""


async def totals(
    conn: Connection, start: datetime, end: datetime, client_id: UUID | None
) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(TOTALS, start, end, client_id)]


async def mismatches(
    conn: Connection, start: datetime, end: datetime, client_id: UUID | None, limit: int
) -> list[dict[str, Any]]:
    """The first `limit` invoices of the period whose money does not add up, by number."""
    found = []
    for r in await conn.fetch(MISMATCHES, start, end, client_id, limit):
        row = dict(r)
        reasons = []
        if row["paid_minor"] != row["applied"] - row["refunded"]:
            reasons.append("paid amount is not payments less refunds")
        if row["paid_minor"] > row["total_minor"] - row["credited"]:
            reasons.append("paid more than owed after credit notes")
        if row["void"] and row["paid_minor"] > 0:
            reasons.append("void invoice with money on it")
        row["reasons"] = reasons
        found.append(row)
    return found


async def credit_mismatches(
    conn: Connection, client_id: UUID | None, limit: int
) -> list[dict[str, Any]]:
    """The first `limit` credit ledgers (client and currency) that do not add up."""
    found = []
    for r in await conn.fetch(CREDIT_MISMATCHES, client_id, limit):
        row = dict(r)
        reasons = []
        if row["overpaid_moved"] != row["overpaid_paid"]:
            reasons.append("overpayments in the ledger are not what payments sent to credit")
        if row["returned_moved"] != row["returned_refunded"]:
            reasons.append("returns in the ledger are not what refunds sent to credit")
        if row["applied_moved"] != row["applied_paid"]:
            reasons.append("credit applied in the ledger is not what payments from credit took")
        if row["balance_minor"] < 0:
            reasons.append("the balance is below zero")
        row["reasons"] = reasons
        found.append(row)
    return found


async def unsettled_provider_events(
    conn: Connection, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    """Verified provider events received in the period that moved no money although they
    report some (outcome `rejected`): money a provider took or gave back that is on no
    invoice here, unless a person recorded it since: its refund (`provider_refund_id`: the
    refund id the event names exists), or the payment its PaymentIntent would have made
    (`provider_payment_id`: the payment id the event names exists, with the money it
    reported), or resolved it by hand where no recording settles it. The first `limit`,
    oldest first."""
    found = await conn.fetch(
        "SELECT id, provider, event_id, type, detail, created_at FROM provider_events e "
        "WHERE tenant_id = current_tenant() AND outcome = 'rejected' AND resolved_at IS NULL "
        "AND created_at >= $1 AND created_at < $2 "
        "AND (refund_id IS NULL OR NOT EXISTS (SELECT 1 FROM refunds f WHERE f.id = e.refund_id)) "
        "AND NOT (type = $4 AND payment_id IS NOT NULL AND EXISTS (SELECT 1 FROM payments p "
        "WHERE p.id = e.payment_id AND p.amount_minor = e.amount_minor "
        "AND p.currency = e.currency)) "
        "ORDER BY created_at, id LIMIT $3",
        start,
        end,
        limit,
        PAYMENT_SUCCEEDED,
    )
    return [dict(r) for r in found]
