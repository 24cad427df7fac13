"""Project usage counters and the budget thresholds already announced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from servicekit.db import Connection
from timecapture.domain.budgets import Budget, Crossing, Usage


@dataclass(frozen=True, slots=True)
class UsageChange:
    before: Usage
    after: Usage
    budget: Budget
    client_id: UUID
    currency: str


_CREATE_USAGE = """
INSERT INTO project_usage (tenant_id, project_id) VALUES (current_tenant(), $1)
ON CONFLICT DO NOTHING
"""

# Returns the usage after the change and the budget, so thresholds need no second read.
_ADD_USAGE = """
UPDATE project_usage u
SET tracked_seconds = u.tracked_seconds + $2,
    cost_minor = u.cost_minor + $3,
    unpriced_seconds = u.unpriced_seconds + $4
FROM projects p JOIN clients c ON c.tenant_id = p.tenant_id AND c.id = p.client_id
WHERE u.project_id = $1 AND p.tenant_id = u.tenant_id AND p.id = u.project_id
RETURNING u.tracked_seconds, u.cost_minor, u.unpriced_seconds, p.budget_hours,
          p.budget_amount_minor, p.client_id, c.currency
"""

_USAGE = """
SELECT tracked_seconds, cost_minor, unpriced_seconds FROM project_usage WHERE project_id = $1
"""

_ANNOUNCE = """
INSERT INTO budget_alerts
    (tenant_id, project_id, budget_kind, threshold_percent, budget, consumed, crossed_at)
VALUES (current_tenant(), $1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING RETURNING true
"""


async def create_usage(conn: Connection, project_id: UUID) -> None:
    await conn.execute(_CREATE_USAGE, project_id)


async def add_usage(conn: Connection, project_id: UUID, delta: Usage) -> UsageChange:
    row = await conn.fetchrow(
        _ADD_USAGE, project_id, delta.tracked_seconds, delta.cost_minor, delta.unpriced_seconds
    )
    assert row is not None, f"project {project_id} has no usage row"
    after = Usage(row["tracked_seconds"], row["cost_minor"], row["unpriced_seconds"])
    budget = Budget.of(row["budget_hours"], row["budget_amount_minor"])
    return UsageChange(after + (-delta), after, budget, row["client_id"], row["currency"])


async def usage(conn: Connection, project_id: UUID) -> Usage:
    row = await conn.fetchrow(_USAGE, project_id)
    return Usage() if row is None else Usage(*row)


async def announce(conn: Connection, project_id: UUID, crossing: Crossing, now: datetime) -> bool:
    """True the first time this threshold of this budget is recorded."""
    return bool(
        await conn.fetchval(
            _ANNOUNCE,
            project_id,
            crossing.kind,
            crossing.threshold_percent,
            crossing.budget,
            crossing.consumed,
            now,
        )
    )
