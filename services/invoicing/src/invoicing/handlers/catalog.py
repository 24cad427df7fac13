"""Invoicing settings, tax rates and rate rules: what prices and prints an invoice."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from invoicing.db import replicas
from invoicing.db import rules as rule_rows
from invoicing.db import settings as settings_rows
from invoicing.domain.errors import (
    ClientNotFound,
    FieldInvalid,
    RateRuleNotFound,
    TaxRateNotFound,
)
from invoicing.domain.rates import RateRule
from invoicing.domain.settings import InvoiceSettings
from invoicing.domain.taxes import TaxRate
from invoicing.handlers.common import transaction
from servicekit import rows
from servicekit.db import Connection
from servicekit.identity import Identity
from servicekit.records import revised
from servicekit.service import Runtime
from servicekit.versioning import check_version


async def put_settings(
    runtime: Runtime, identity: Identity, fields: Mapping[str, Any], *, if_match: str | None
) -> InvoiceSettings:
    now = runtime.clock()

    async def write(conn: Connection) -> InvoiceSettings:
        current = await settings_rows.get(conn, identity.tenant_id, lock=True)
        if current.version > 0:
            check_version(if_match, current.version)
        new = dataclasses.replace(current, **fields, version=current.version + 1, updated_at=now)
        if new == dataclasses.replace(current, version=new.version, updated_at=now):
            return current
        await settings_rows.put(conn, new)
        return new

    return await transaction(runtime, identity, write)


async def create_tax_rate(
    runtime: Runtime, identity: Identity, fields: Mapping[str, Any]
) -> TaxRate:
    now = runtime.clock()
    rate = TaxRate(
        tenant_id=identity.tenant_id,
        id=runtime.new_id(),
        archived=False,
        version=1,
        created_at=now,
        updated_at=now,
        **fields,
    )

    async def write(conn: Connection) -> TaxRate:
        await rows.insert(conn, rule_rows.TAX_RATES, rate)
        return rate

    return await transaction(runtime, identity, write)


async def revise_tax_rate(
    runtime: Runtime,
    identity: Identity,
    rate_id: UUID,
    changes: Mapping[str, Any],
    *,
    if_match: str | None,
) -> TaxRate:
    now = runtime.clock()

    async def write(conn: Connection) -> TaxRate:
        rate = await rule_rows.tax_rate(conn, rate_id, lock=True)
        if rate is None:
            raise TaxRateNotFound(f"no tax rate {rate_id}")
        check_version(if_match, rate.version)
        new = revised(rate, changes, now)
        if new is not rate:
            await rows.update(conn, rule_rows.TAX_RATES, new)
        return new

    return await transaction(runtime, identity, write)


async def create_rate_rule(
    runtime: Runtime, identity: Identity, fields: Mapping[str, Any]
) -> RateRule:
    now = runtime.clock()

    async def write(conn: Connection) -> RateRule:
        scoped = await _scoped(conn, dict(fields))
        rule = RateRule(
            tenant_id=identity.tenant_id,
            id=runtime.new_id(),
            version=1,
            created_at=now,
            updated_at=now,
            **scoped,
        )
        _check_rule(rule)
        await rows.insert(conn, rule_rows.RATE_RULES, rule)
        return rule

    return await transaction(runtime, identity, write)


async def revise_rate_rule(
    runtime: Runtime,
    identity: Identity,
    rule_id: UUID,
    changes: Mapping[str, Any],
    *,
    if_match: str | None,
) -> RateRule:
    now = runtime.clock()

    async def write(conn: Connection) -> RateRule:
        rule = await rule_rows.rate_rule(conn, rule_id, lock=True)
        if rule is None:
            raise RateRuleNotFound(f"no rate rule {rule_id}")
        check_version(if_match, rule.version)
        new = revised(rule, changes, now)
        if new is not rule:
            _check_rule(new)
            await rows.update(conn, rule_rows.RATE_RULES, new)
        return new

    return await transaction(runtime, identity, write)


async def delete_rate_rule(
    runtime: Runtime, identity: Identity, rule_id: UUID, *, if_match: str | None
) -> None:
    """Issued invoices keep the price and its explanation; only future drafts lose the rule."""

    async def write(conn: Connection) -> None:
        rule = await rule_rows.rate_rule(conn, rule_id, lock=True)
        if rule is None:
            raise RateRuleNotFound(f"no rate rule {rule_id}")
        check_version(if_match, rule.version)
        await conn.execute("DELETE FROM rate_rules WHERE id = $1", rule_id)

    await transaction(runtime, identity, write)


async def _scoped(conn: Connection, fields: dict[str, Any]) -> dict[str, Any]:
    """Fill the client of a project rule, and check both exist in this tenant."""
    project_id, client_id = fields.get("project_id"), fields.get("client_id")
    if project_id is not None:
        row = await conn.fetchrow(
            "SELECT client_id FROM project_replicas WHERE project_id = $1 AND NOT deleted",
            project_id,
        )
        if row is None:
            raise FieldInvalid("project_id", f"no project {project_id} (yet) in invoicing")
        if client_id is not None and client_id != row["client_id"]:
            raise FieldInvalid("client_id", "the project belongs to another client")
        client_id = fields["client_id"] = row["client_id"]
    if client_id is not None:
        client = await replicas.client(conn, client_id)
        if client is None:
            raise ClientNotFound(f"no client {client_id}")
        if client.currency != fields["currency"]:
            raise FieldInvalid("currency", f"the client is invoiced in {client.currency}")
    return fields


def _check_rule(rule: RateRule) -> None:
    if rule.member_id is not None and rule.project_id is None:
        raise FieldInvalid("project_id", "a member rule is for one project")
    if rule.kind == "fixed_fee" and (rule.project_id is None or rule.member_id is not None):
        raise FieldInvalid("project_id", "a fixed fee is for one project (no member)")
    if rule.kind == "monthly_retainer" and (rule.client_id is None or rule.member_id is not None):
        raise FieldInvalid("client_id", "a retainer is for one client or project (no member)")
    if rule.effective_to is not None and rule.effective_to < rule.effective_from:
        raise FieldInvalid("effective_to", "must not be before effective_from")
