"""Members: the people of a tenant who log time, and what an hour of theirs costs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from timecapture.domain.errors import MemberInvalid

MemberRole = Literal["member", "manager"]


@dataclass(frozen=True, slots=True)
class Member:
    """`principal` links the member to a gateway identity (user or API key) that acts as them."""

    tenant_id: UUID
    id: UUID
    name: str
    email: str
    role: MemberRole
    principal: str | None
    cost_rate_minor: int | None
    cost_currency: str | None
    archived: bool
    version: int
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        if (self.cost_rate_minor is None) != (self.cost_currency is None):
            raise MemberInvalid("cost_currency", "give cost_rate_minor and cost_currency together")
