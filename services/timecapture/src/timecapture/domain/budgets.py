"""Project budgets: consumption and the thresholds announced once each.

Hours budgets count every tracked second of the project (billable or not). Amount budgets
count tracked time priced at each member's cost rate (time capture does not know sale rates;
invoicing does); time of members without a cost rate in the client's currency is reported as
unpriced and not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

THRESHOLDS = (80, 100)
BudgetKind = Literal["hours", "amount"]


@dataclass(frozen=True, slots=True)
class Usage:
    tracked_seconds: int = 0
    cost_minor: int = 0
    unpriced_seconds: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.tracked_seconds + other.tracked_seconds,
            self.cost_minor + other.cost_minor,
            self.unpriced_seconds + other.unpriced_seconds,
        )

    def __neg__(self) -> Usage:
        return Usage(-self.tracked_seconds, -self.cost_minor, -self.unpriced_seconds)


def usage_of(seconds: int, cost_minor: int | None) -> Usage:
    if cost_minor is None:
        return Usage(seconds, 0, seconds)
    return Usage(seconds, cost_minor, 0)


@dataclass(frozen=True, slots=True)
class Budget:
    seconds: int | None
    amount_minor: int | None

    @classmethod
    def of(cls, hours: Decimal | None, amount_minor: int | None) -> Budget:
        return cls(None if hours is None else int(hours * 3600), amount_minor)


@dataclass(frozen=True, slots=True)
class Crossing:
    kind: BudgetKind
    threshold_percent: int
    budget: int
    consumed: int


def _reached(consumed: int, budget: int, threshold: int) -> bool:
    return consumed * 100 >= budget * threshold


def crossings(budget: Budget, before: Usage | None, after: Usage) -> list[Crossing]:
    """Thresholds `after` has reached and `before` had not (`before=None`: check them all)."""
    found: list[Crossing] = []
    old_hours = None if before is None else before.tracked_seconds
    old_amount = None if before is None else before.cost_minor
    for kind, limit, old, new in (
        ("hours", budget.seconds, old_hours, after.tracked_seconds),
        ("amount", budget.amount_minor, old_amount, after.cost_minor),
    ):
        if not limit:
            continue
        for threshold in THRESHOLDS:
            if _reached(new, limit, threshold) and (
                old is None or not _reached(old, limit, threshold)
            ):
                found.append(Crossing(kind, threshold, limit, new))  # type: ignore[arg-type]
    return found
