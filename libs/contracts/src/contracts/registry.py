"""Which payload model each (event_type, schema_version) carries, and how to (de)serialize."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, TypeVar
from uuid import UUID

from pydantic import BaseModel

from contracts.envelope import EventEnvelope, envelope_model
from contracts.events import (
    BudgetThresholdCrossed,
    ClientState,
    CreditNoteIssued,
    CreditPaidOut,
    InvoiceIssued,
    InvoiceOverdue,
    InvoicePaid,
    InvoiceVoided,
    InvoiceWrittenOff,
    PaymentReceived,
    PaymentRefunded,
    ProjectState,
    TimeEntryState,
)
from contracts.topics import TOPICS

__all__ = [
    "EVENTS",
    "EventSpec",
    "UnknownEventError",
    "build_event",
    "decode_event",
    "encode_event",
    "event_key",
    "spec_for",
]

M = TypeVar("M", bound=BaseModel)


class UnknownEventError(ValueError):
    """No payload model is registered for this event type and schema version."""


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One version of one event type: where it is published and what it carries."""

    event_type: str
    schema_version: int
    topic: str
    payload_model: type[BaseModel]
    key_field: str

    def __post_init__(self) -> None:
        topic = TOPICS.get(self.topic)
        if topic is None:
            raise ValueError(f"{self.event_type}: unknown topic {self.topic!r}")
        if self.key_field != topic.key:
            raise ValueError(f"{self.event_type}: key {self.key_field!r}, topic uses {topic.key!r}")
        if self.key_field not in self.payload_model.model_fields:
            raise ValueError(f"{self.event_type}: payload has no field {self.key_field!r}")


EVENTS: Final[Mapping[tuple[str, int], EventSpec]] = MappingProxyType(
    {
        (spec.event_type, spec.schema_version): spec
        for spec in (
            EventSpec("time_entry.logged", 1, "time-entry-logged", TimeEntryState, "entry_id"),
            EventSpec("time_entry.revised", 1, "time-entry-logged", TimeEntryState, "entry_id"),
            EventSpec("time_entry.deleted", 1, "time-entry-logged", TimeEntryState, "entry_id"),
            EventSpec("client.changed", 1, "client-changed", ClientState, "client_id"),
            EventSpec("project.changed", 1, "project-changed", ProjectState, "project_id"),
            EventSpec("invoice.issued", 1, "invoice-issued", InvoiceIssued, "invoice_id"),
            EventSpec("invoice.voided", 1, "invoice-voided", InvoiceVoided, "invoice_id"),
            EventSpec(
                "project.budget_threshold_crossed",
                1,
                "budget-threshold-crossed",
                BudgetThresholdCrossed,
                "project_id",
            ),
            EventSpec("payment.received", 1, "payment-received", PaymentReceived, "invoice_id"),
            EventSpec("payment.refunded", 1, "payment-refunded", PaymentRefunded, "invoice_id"),
            EventSpec("credit.paid_out", 1, "credit-paid-out", CreditPaidOut, "client_id"),
            EventSpec("invoice.paid", 1, "invoice-paid", InvoicePaid, "invoice_id"),
            EventSpec("invoice.overdue", 1, "invoice-overdue", InvoiceOverdue, "invoice_id"),
            EventSpec(
                "invoice.written_off", 1, "invoice-written-off", InvoiceWrittenOff, "invoice_id"
            ),
            EventSpec(
                "credit_note.issued", 1, "credit-note-issued", CreditNoteIssued, "invoice_id"
            ),
        )
    }
)


def spec_for(event_type: str, version: int) -> EventSpec:
    """The registered spec, or `UnknownEventError`."""
    try:
        return EVENTS[(event_type, version)]
    except KeyError:
        raise UnknownEventError(f"no event {event_type!r} version {version}") from None


def decode_event(raw: bytes | str) -> EventEnvelope[Any]:
    """Parse a message value into an envelope whose payload is the registered model.

    Raises `pydantic.ValidationError` for malformed data and `UnknownEventError` for an
    event type or version this code does not know.
    """
    header = EventEnvelope[Any].model_validate_json(raw)
    spec = spec_for(header.event_type, header.schema_version)
    return envelope_model(spec.payload_model).model_validate_json(raw)


def encode_event(envelope: EventEnvelope[Any]) -> bytes:
    """Compact JSON bytes of the envelope, as written to Kafka."""
    return envelope.model_dump_json().encode()


def build_event(
    spec_or_type: EventSpec | str,
    payload: M,
    *,
    tenant_id: UUID,
    producer: str,
    event_id: UUID,
    occurred_at: datetime,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
) -> EventEnvelope[M]:
    """Wrap a payload in an envelope; ids and time come from the caller, never a hidden clock.

    Given an event type, the newest registered version whose model matches the payload is used.
    """
    spec = (
        spec_or_type
        if isinstance(spec_or_type, EventSpec)
        else _spec_for_payload(spec_or_type, type(payload))
    )
    if type(payload) is not spec.payload_model:
        raise TypeError(
            f"{spec.event_type} v{spec.schema_version} carries {spec.payload_model.__name__}, "
            f"got {type(payload).__name__}"
        )
    return envelope_model(spec.payload_model)(
        event_id=event_id,
        event_type=spec.event_type,
        schema_version=spec.schema_version,
        occurred_at=occurred_at,
        tenant_id=tenant_id,
        producer=producer,
        correlation_id=correlation_id,
        causation_id=causation_id,
        payload=payload,
    )


def _spec_for_payload(event_type: str, model: type[BaseModel]) -> EventSpec:
    versions = [
        spec
        for spec in EVENTS.values()
        if spec.event_type == event_type and spec.payload_model is model
    ]
    if not versions:
        raise UnknownEventError(f"no event {event_type!r} carrying {model.__name__}")
    return max(versions, key=lambda spec: spec.schema_version)


def event_key(envelope: EventEnvelope[Any]) -> bytes:
    """Kafka message key: the payload's aggregate id as UTF-8 text."""
    spec = spec_for(envelope.event_type, envelope.schema_version)
    return str(getattr(envelope.payload, spec.key_field)).encode()
