"""The one envelope every Billstream event travels in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

__all__ = ["EVENT_TYPE_PATTERN", "EventEnvelope", "envelope_model"]

EVENT_TYPE_PATTERN = r"^[a-z_]+\.[a-z_]+$"

P = TypeVar("P")


class EventEnvelope(BaseModel, Generic[P]):
    """Metadata common to every event around a typed payload.

    Trace context travels in Kafka headers (W3C `traceparent`), not here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(description="Unique forever; consumers deduplicate on it.")
    event_type: str = Field(
        pattern=EVENT_TYPE_PATTERN,
        description="`<aggregate>.<past participle>`, e.g. `invoice.issued`.",
    )
    schema_version: int = Field(
        ge=1, description="Version of the payload schema for this event type."
    )
    occurred_at: AwareDatetime = Field(
        description="When the fact happened in the producer, normalized to UTC."
    )
    tenant_id: UUID = Field(description="Tenant the event belongs to.")
    producer: str = Field(min_length=1, description="Name of the service that wrote the event.")
    correlation_id: UUID | None = Field(
        default=None, description="Shared by every event caused by one original request."
    )
    causation_id: UUID | None = Field(
        default=None, description="`event_id` (or request id) of the direct cause, if any."
    )
    payload: P = Field(description="Event-specific data, typed by event_type and schema_version.")

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


def envelope_model(payload_model: type[BaseModel]) -> type[EventEnvelope[Any]]:
    """`EventEnvelope[payload_model]` for a model known only at runtime."""
    return EventEnvelope[payload_model]  # type: ignore[valid-type]
