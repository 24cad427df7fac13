-- `GET /v1/payments/{id}/refunds` pages a payment's refunds newest first, each with what its
-- provider reported of it (the provider_refunds row that names it, if any).
CREATE INDEX refunds_payment_created ON refunds (tenant_id, payment_id, created_at, id);
DROP INDEX refunds_payment;
CREATE INDEX provider_refunds_refund ON provider_refunds (tenant_id, refund_id)
    WHERE refund_id IS NOT NULL;
