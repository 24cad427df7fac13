"""Rate rules and which one prices a time entry: the most specific in effect on its date."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

RateKind = Literal["hourly", "daily", "fixed_fee", "monthly_retainer"]
Scope = Literal["member_on_project", "project", "client", "tenant"]

# Higher wins: member on project > project > client > tenant default.
SPECIFICITY: dict[Scope, int] = {"member_on_project": 3, "project": 2, "client": 1, "tenant": 0}


@dataclass(frozen=True, slots=True)
class RateRule:
    tenant_id: UUID
    id: UUID
    kind: RateKind
    client_id: UUID | None
    project_id: UUID | None
    member_id: UUID | None
    currency: str
    amount_minor: int
    hours_per_day: Decimal
    effective_from: date
    effective_to: date | None
    description: str
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def scope(self) -> Scope:
        if self.member_id is not None:
            return "member_on_project"
        if self.project_id is not None:
            return "project"
        if self.client_id is not None:
            return "client"
        return "tenant"

    def in_effect_on(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )

    def applies_to(self, client_id: UUID, project_id: UUID, member_id: UUID) -> bool:
        return (
            (self.client_id is None or self.client_id == client_id)
            and (self.project_id is None or self.project_id == project_id)
            and (self.member_id is None or self.member_id == member_id)
        )

    @property
    def prices_time(self) -> bool:
        """Hourly and daily rules price each entry; fees and retainers cover the time."""
        return self.kind in ("hourly", "daily")

    def explain(self) -> str:
        """Why a line has its price, printed on the line's provenance."""
        until = f" until {self.effective_to}" if self.effective_to else ""
        label = self.scope.replace("_", " ")
        return (
            f"{self.kind} rate {self.amount_minor} {self.currency} minor units, {label} rule "
            f"{self.id} in effect from {self.effective_from}{until}"
        )


def resolve(
    rules: Iterable[RateRule],
    *,
    currency: str,
    client_id: UUID,
    project_id: UUID,
    member_id: UUID,
    day: date,
) -> RateRule | None:
    """The rule pricing this member's time on this project on `day`, if any.

    Most specific scope first; within a scope, the rule that took effect last; a tie (two
    rules of one scope from the same day) goes to the one created last, so the outcome never
    depends on the order the rules were read in.
    """
    candidates = [
        r
        for r in rules
        if r.currency == currency
        and r.in_effect_on(day)
        and r.applies_to(client_id, project_id, member_id)
    ]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda r: (SPECIFICITY[r.scope], r.effective_from, r.created_at, r.id),
    )
