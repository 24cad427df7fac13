"""Tax rates and rate rules: plain aggregate rows."""

from __future__ import annotations

from collections.abc import Mapping
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
    return (await rules_for_clients(conn, {client_id: currency}))[client_id]


async def rules_for_clients(
    conn: Connection, currencies: Mapping[UUID, str]
) -> dict[UUID, list[RateRule]]:
    """`rules_for_client` for each client (in its currency), in one statement."""
    cols = ", ".join(f"r.{c}" for c in rows.columns(RateRule))
    found = await conn.fetch(
        f"SELECT c.client_id AS for_client, {cols} FROM rate_rules r "
        "JOIN unnest($1::uuid[], $2::text[]) AS c(client_id, currency) "
        "ON r.currency = c.currency AND (r.client_id IS NULL OR r.client_id = c.client_id) "
        "AND (r.project_id IS NULL OR r.project_id IN (SELECT p.project_id "
        "FROM project_replicas p WHERE p.client_id = c.client_id))",
        list(currencies),
        list(currencies.values()),
    )
    by_client: dict[UUID, list[RateRule]] = {c: [] for c in currencies}
    for r in found:
        by_client[r["for_client"]].append(rows.from_row(RateRule, r))
    return by_client
