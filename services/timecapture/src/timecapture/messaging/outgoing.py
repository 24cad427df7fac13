"""Domain changes turned into contract events."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.envelope import EventEnvelope
from contracts.events.budgets import BudgetThresholdCrossed
from contracts.events.clients import ClientState
from contracts.events.projects import ProjectState
from contracts.events.time_entries import TimeEntryState
from contracts.registry import build_event
from timecapture.domain.budgets import Crossing
from timecapture.domain.clients import Client
from timecapture.domain.projects import Project
from timecapture.domain.time_entries import TimeEntry

PRODUCER = "timecapture"


def time_entry_event(
    event_type: str,
    entry: TimeEntry,
    *,
    event_id: UUID,
    occurred_at: datetime,
    correlation_id: UUID | None = None,
) -> EventEnvelope[Any]:
    state = TimeEntryState(
        entry_id=entry.id,
        version=entry.version,
        member_id=entry.member_id,
        project_id=entry.project_id,
        task=entry.task,
        description=entry.description,
        started_at=entry.started_at,
        ended_at=entry.ended_at,
        duration_seconds=entry.duration_seconds,
        billable=entry.billable,
        tags=list(entry.tags),
    )
    return build_event(
        event_type,
        state,
        tenant_id=entry.tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=occurred_at,
        correlation_id=correlation_id,
    )


def client_event(
    client: Client, *, event_id: UUID, occurred_at: datetime, deleted: bool = False
) -> EventEnvelope[Any]:
    state = ClientState(
        client_id=client.id,
        version=client.version,
        name=client.name,
        currency=client.currency,
        payment_terms_days=client.payment_terms_days,
        contact_emails=list(client.contact_emails),
        billing_address=client.billing_address,
        tax_id=client.tax_id,
        default_tax_rate_id=client.default_tax_rate_id,
        archived=client.archived,
        deleted=deleted,
    )
    return build_event(
        "client.changed",
        state,
        tenant_id=client.tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=occurred_at,
    )


def project_event(
    project: Project, *, event_id: UUID, occurred_at: datetime, deleted: bool = False
) -> EventEnvelope[Any]:
    state = ProjectState(
        project_id=project.id,
        version=project.version,
        client_id=project.client_id,
        name=project.name,
        code=project.code,
        billable_by_default=project.billable_by_default,
        rounding_increment_minutes=project.rounding_increment_minutes,
        rounding_mode=project.rounding_mode,
        budget_hours=project.budget_hours,
        budget_amount_minor=project.budget_amount_minor,
        archived=project.archived,
        deleted=deleted,
    )
    return build_event(
        "project.changed",
        state,
        tenant_id=project.tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=occurred_at,
    )


def budget_event(
    tenant_id: UUID,
    project_id: UUID,
    client_id: UUID,
    crossing: Crossing,
    *,
    currency: str | None,
    entry_id: UUID | None,
    event_id: UUID,
    occurred_at: datetime,
) -> EventEnvelope[Any]:
    payload = BudgetThresholdCrossed(
        project_id=project_id,
        client_id=client_id,
        budget_kind=crossing.kind,
        threshold_percent=crossing.threshold_percent,
        budget=crossing.budget,
        consumed=crossing.consumed,
        currency=currency if crossing.kind == "amount" else None,
        crossed_at=occurred_at,
        time_entry_id=entry_id,
    )
    return build_event(
        "project.budget_threshold_crossed",
        payload,
        tenant_id=tenant_id,
        producer=PRODUCER,
        event_id=event_id,
        occurred_at=occurred_at,
    )
