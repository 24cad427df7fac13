from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, ValidationError

from contracts.envelope import EventEnvelope, envelope_model
from contracts.events import PaymentReceived
from contracts.registry import EVENTS, build_event, decode_event, encode_event

TENANT = UUID(int=99)


def _envelope(payload: BaseModel, event_type: str, **overrides: Any) -> EventEnvelope[Any]:
    fields: dict[str, Any] = {
        "tenant_id": TENANT,
        "producer": "tests",
        "event_id": UUID(int=1000),
        "occurred_at": datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    }
    return build_event(event_type, payload, **(fields | overrides))


def _raw(payloads: dict[type[BaseModel], BaseModel]) -> dict[str, Any]:
    envelope = _envelope(payloads[PaymentReceived], "payment.received")
    data: dict[str, Any] = json.loads(encode_event(envelope))
    return data


@pytest.mark.parametrize("spec", EVENTS.values(), ids=lambda spec: spec.event_type)
def test_every_event_round_trips(spec: Any, payloads: dict[type[BaseModel], BaseModel]) -> None:
    envelope = _envelope(
        payloads[spec.payload_model],
        spec.event_type,
        correlation_id=UUID(int=7),
        causation_id=UUID(int=8),
    )
    decoded = decode_event(encode_event(envelope))
    assert decoded == envelope
    assert type(decoded.payload) is spec.payload_model
    assert decode_event(encode_event(envelope).decode()) == envelope


def test_unknown_envelope_field_is_rejected(payloads: dict[type[BaseModel], BaseModel]) -> None:
    data = _raw(payloads) | {"traceparent": "00-abc"}
    with pytest.raises(ValidationError, match="traceparent"):
        decode_event(json.dumps(data))


def test_unknown_payload_field_is_rejected(payloads: dict[type[BaseModel], BaseModel]) -> None:
    data = _raw(payloads)
    data["payload"]["fee_minor"] = 30
    with pytest.raises(ValidationError, match="fee_minor"):
        decode_event(json.dumps(data))


def test_naive_occurred_at_is_rejected(payloads: dict[type[BaseModel], BaseModel]) -> None:
    data = _raw(payloads) | {"occurred_at": "2026-03-02T10:00:00"}
    with pytest.raises(ValidationError, match="occurred_at"):
        decode_event(json.dumps(data))
    with pytest.raises(ValidationError, match="occurred_at"):
        _envelope(
            payloads[PaymentReceived],
            "payment.received",
            occurred_at=datetime(2026, 3, 2, 10, 0),
        )


def test_occurred_at_is_normalized_to_utc(payloads: dict[type[BaseModel], BaseModel]) -> None:
    paris = timezone(timedelta(hours=2))
    envelope = _envelope(
        payloads[PaymentReceived],
        "payment.received",
        occurred_at=datetime(2026, 6, 1, 12, 0, tzinfo=paris),
    )
    assert envelope.occurred_at == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert envelope.occurred_at.utcoffset() == timedelta(0)
    assert json.loads(encode_event(envelope))["occurred_at"] == "2026-06-01T10:00:00Z"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_type", "PaymentReceived"),
        ("event_type", "payment.received.v1"),
        ("schema_version", 0),
        ("event_id", "not-a-uuid"),
        ("producer", ""),
    ],
)
def test_envelope_fields_are_validated(
    field: str, value: object, payloads: dict[type[BaseModel], BaseModel]
) -> None:
    data = _raw(payloads) | {field: value}
    with pytest.raises(ValidationError, match=field):
        envelope_model(PaymentReceived).model_validate(data)


def test_envelope_is_frozen(payloads: dict[type[BaseModel], BaseModel]) -> None:
    envelope = _envelope(payloads[PaymentReceived], "payment.received")
    with pytest.raises(ValidationError):
        envelope.producer = "other"  # type: ignore[misc]


def test_encoding_is_compact_json(payloads: dict[type[BaseModel], BaseModel]) -> None:
    raw = encode_event(_envelope(payloads[PaymentReceived], "payment.received"))
    assert b"\n" not in raw
    assert b'", "' not in raw
