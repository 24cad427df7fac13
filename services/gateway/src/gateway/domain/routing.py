"""Which service owns which `/v1` path: the gateway's only knowledge of the platform."""

from __future__ import annotations

ROUTES: dict[str, str] = {
    "time-entries": "timecapture",
    "clients": "timecapture",
    "projects": "timecapture",
    "members": "timecapture",
    "timers": "timecapture",
    "reports": "timecapture",
    "rate-rules": "invoicing",
    "tax-rates": "invoicing",
    "invoices": "invoicing",
    "invoice-settings": "invoicing",
    "billing-runs": "invoicing",
    "credit-notes": "invoicing",
    "recurring-invoices": "invoicing",
    "payments": "payments",
    "reconciliation": "payments",
    "providers": "payments",
}


# Routes a payment provider calls: no API key (the provider has none of ours), but the
# tenant named in `?tenant_id=` must exist, and the service checks the payload's signature.
PROVIDER_WEBHOOKS: dict[str, str] = {"/v1/providers/stripe/webhook": "stripe"}


def webhook_provider(method: str, path: str) -> str | None:
    return PROVIDER_WEBHOOKS.get(path) if method == "POST" else None


def owner_of(path: str) -> str | None:
    """The service for `/v1/<resource>/...`; client credit balances live in payments."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "v1":
        return None
    # The forwarding client resolves dot segments after routing: they would reach another
    # resource, or a service's internal endpoints (/metrics, /docs).
    if "." in parts or ".." in parts:
        return None
    if parts[1] == "clients" and len(parts) >= 4 and parts[3] == "credit-balance":
        return "payments"
    return ROUTES.get(parts[1])
