from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, ValidationError

from contracts.events import ClientState, InvoiceIssued, PaymentReceived, TimeEntryState
from contracts.registry import (
    EVENTS,
    EventSpec,
    UnknownEventError,
    build_event,
    decode_event,
    encode_event,
    event_key,
    spec_for,
)
from contracts.topics import TOPICS

IDS: dict[str, Any] = {
    "tenant_id": UUID(int=99),
    "producer": "tests",
    "event_id": UUID(int=1000),
    "occurred_at": datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
}


def test_registry_matches_topics() -> None:
    assert set(EVENTS) == {
        ("time_entry.logged", 1),
        ("time_entry.revised", 1),
        ("time_entry.deleted", 1),
        ("client.changed", 1),
        ("project.changed", 1),
        ("invoice.issued", 1),
        ("invoice.voided", 1),
        ("project.budget_threshold_crossed", 1),
        ("payment.received", 1),
        ("payment.refunded", 1),
        ("credit.paid_out", 1),
        ("invoice.paid", 1),
        ("invoice.overdue", 1),
        ("invoice.written_off", 1),
        ("credit_note.issued", 1),
    }
    for spec in EVENTS.values():
        assert TOPICS[spec.topic].key == spec.key_field
        assert spec_for(spec.event_type, spec.schema_version) is spec
    assert {spec.topic for spec in EVENTS.values()} == set(TOPICS)


def test_spec_rejects_inconsistent_topic_or_key() -> None:
    with pytest.raises(ValueError, match="unknown topic"):
        EventSpec("invoice.reminded", 1, "invoice-reminded", InvoiceIssued, "invoice_id")
    with pytest.raises(ValueError, match="topic uses"):
        EventSpec("payment.received", 2, "payment-received", PaymentReceived, "payment_id")
    with pytest.raises(ValueError, match="no field"):
        EventSpec("client.changed", 2, "client-changed", TimeEntryState, "client_id")


def test_spec_for_unknown_raises() -> None:
    with pytest.raises(UnknownEventError):
        spec_for("invoice.issued", 99)
    assert issubclass(UnknownEventError, ValueError)


def test_build_event_by_type_or_spec(payloads: dict[type[BaseModel], BaseModel]) -> None:
    payload = payloads[TimeEntryState]
    by_type = build_event("time_entry.revised", payload, **IDS)
    by_spec = build_event(EVENTS[("time_entry.revised", 1)], payload, **IDS)
    assert by_type == by_spec
    assert (by_type.event_type, by_type.schema_version) == ("time_entry.revised", 1)
    assert by_type.payload is payload
    assert by_type.correlation_id is None


def test_build_event_refuses_the_wrong_payload(
    payloads: dict[type[BaseModel], BaseModel],
) -> None:
    with pytest.raises(UnknownEventError):
        build_event("invoice.issued", payloads[ClientState], **IDS)
    with pytest.raises(TypeError):
        build_event(EVENTS[("invoice.issued", 1)], payloads[ClientState], **IDS)


def test_event_key_is_the_aggregate_id(payloads: dict[type[BaseModel], BaseModel]) -> None:
    payment = build_event("payment.received", payloads[PaymentReceived], **IDS)
    assert event_key(payment) == str(UUID(int=20)).encode()
    entry = build_event("time_entry.logged", payloads[TimeEntryState], **IDS)
    assert event_key(entry) == b"00000000-0000-0000-0000-000000000001"


def _raw(payloads: dict[type[BaseModel], BaseModel], **changes: Any) -> str:
    data = json.loads(encode_event(build_event("invoice.issued", payloads[InvoiceIssued], **IDS)))
    return json.dumps(data | changes)


@pytest.mark.parametrize(
    "changes",
    [{"event_type": "invoice.exploded"}, {"schema_version": 2}],
)
def test_decode_unknown_event_raises(
    changes: dict[str, Any], payloads: dict[type[BaseModel], BaseModel]
) -> None:
    with pytest.raises(UnknownEventError):
        decode_event(_raw(payloads, **changes))


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{}", b"[]", '{"event_type": "invoice.issued"}'],
)
def test_decode_malformed_raises_validation_error(raw: bytes | str) -> None:
    with pytest.raises(ValidationError):
        decode_event(raw)


def test_decode_bad_payload_raises_validation_error(
    payloads: dict[type[BaseModel], BaseModel],
) -> None:
    with pytest.raises(ValidationError, match="total_minor"):
        decode_event(_raw(payloads, payload={"total_minor": 1}))
    # A payload of another event type does not pass as this one.
    client = json.loads(payloads[ClientState].model_dump_json())
    with pytest.raises(ValidationError):
        decode_event(_raw(payloads, payload=client))
