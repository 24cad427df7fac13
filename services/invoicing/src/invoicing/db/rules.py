"""Tax rates and rate rules: plain aggregate rows."""

from __future__ import annotations

from uuid import UUID

from invoicing.domain.rates import RateRule
from invoicing.domain.taxes import TaxRate
from servicekit import rows
from servicekit.db import Connection

TAX_RATES = "tax_rates"
RATE_RULES = "rate_rules"


async def tax_rate(conn: Connection, rate_id: UUID, *, lock: bool = False) -> TaxRate | None:
    return await rows.fetch(conn, TAX_RATES, TaxRate, rate_id, lock=lock)


async def rate_rule(conn: Connection, rule_id: UUID, *, lock: bool = False) -> RateRule | None:
    return await rows.fetch(conn, RATE_RULES, RateRule, rule_id, lock=lock)


async def rules_for_client(conn: Connection, client_id: UUID, currency: str) -> list[RateRule]:
    """Every rule that may price this client's time: tenant-wide, the client's, its projects'."""
    cols = ", ".join(f"r.{c}" for c in rows.columns(RateRule))
    found = await conn.fetch(
        f"SELECT {cols} FROM rate_rules r WHERE r.currency = $1 AND "
        "(r.client_id IS NULL OR r.client_id = $2) AND (r.project_id IS NULL OR r.project_id IN "
        "(SELECT p.project_id FROM project_replicas p WHERE p.client_id = $2))",
        currency,
        client_id,
    )
    return [rows.from_row(RateRule, r) for r in found]
