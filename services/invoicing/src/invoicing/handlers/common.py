"""The unit of work every command runs in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from invoicing.domain.errors import DuplicateValue
from servicekit.db import Connection, in_tenant_transaction
from servicekit.identity import Identity
from servicekit.service import Runtime

T = TypeVar("T")

_UNIQUE_FIELDS = {"tax_rates_name_unique": ("name", "a tax rate with this name exists")}


async def transaction(
    runtime: Runtime, identity: Identity, work: Callable[[Connection], Awaitable[T]]
) -> T:
    try:
        return await in_tenant_transaction(runtime.require_pool(), identity.tenant_id, work)
    except asyncpg.UniqueViolationError as exc:
        known = _UNIQUE_FIELDS.get(exc.constraint_name or "")
        if known is None:
            raise
        raise DuplicateValue(*known) from None
