from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, ValidationError

from contracts.envelope import EventEnvelope
from contracts.events import (
    InvoiceIssued,
    PaymentReceived,
    ProjectState,
    TimeEntryState,
)
from contracts.registry import EVENTS


def _models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = [EventEnvelope]
    pending = [spec.payload_model for spec in EVENTS.values()]
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            for arg in getattr(field.annotation, "__args__", ()):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    pending.append(arg)
    return seen


@pytest.mark.parametrize("model", _models(), ids=lambda model: model.__name__)
def test_every_contract_field_is_described(model: type[BaseModel]) -> None:
    undocumented = [name for name, field in model.model_fields.items() if not field.description]
    assert undocumented == []
    assert model.model_config.get("extra") == "forbid"
    assert model.model_config.get("frozen") is True


@pytest.mark.parametrize(
    "changes",
    [
        {"subtotal_minor": 17999},
        {"discount_minor": 0},
        {"tax_minor": 3401},
        {"total_minor": 21400},
    ],
)
def test_invoice_totals_must_add_up(changes: dict[str, int], invoice_data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=next(iter(changes))):
        InvoiceIssued.model_validate(invoice_data | changes)


def test_invoice_totals_sum_every_line(invoice_data: dict[str, Any]) -> None:
    second = invoice_data["lines"][0] | {
        "line_id": UUID(int=12),
        "amount_minor": 500,
        "discount_minor": 0,
        "tax_minor": 100,
        "time_entry_ids": [],
    }
    two_lines = invoice_data | {"lines": [invoice_data["lines"][0], second]}
    with pytest.raises(ValidationError, match="subtotal_minor"):
        InvoiceIssued.model_validate(two_lines)
    fixed = two_lines | {"subtotal_minor": 18500, "tax_minor": 3500, "total_minor": 21000}
    assert InvoiceIssued.model_validate(fixed).total_minor == 21000


def test_invoice_bills_each_time_entry_once(
    invoice_data: dict[str, Any], ids: Callable[[int], UUID]
) -> None:
    with pytest.raises(ValidationError, match="duplicates"):
        InvoiceIssued.model_validate(invoice_data | {"time_entry_ids": [ids(1), ids(1)]})
    with pytest.raises(ValidationError, match="must be in"):
        InvoiceIssued.model_validate(invoice_data | {"time_entry_ids": []})
    repeated = invoice_data["lines"][0] | {"line_id": ids(12), "amount_minor": 0, "tax_minor": 0}
    repeated |= {"discount_minor": 0}
    with pytest.raises(ValidationError, match="more than one line"):
        InvoiceIssued.model_validate(invoice_data | {"lines": [invoice_data["lines"][0], repeated]})


def test_invoice_period_in_order(invoice_data: dict[str, Any]) -> None:
    swapped = {
        "period_start": invoice_data["period_end"],
        "period_end": invoice_data["period_start"],
    }
    with pytest.raises(ValidationError, match="period_end"):
        InvoiceIssued.model_validate(invoice_data | swapped)
    assert InvoiceIssued.model_validate(invoice_data | {"period_start": None, "period_end": None})


def test_invoice_currency_must_be_known(invoice_data: dict[str, Any]) -> None:
    for currency in ("eur", "EURO", "ABC"):
        with pytest.raises(ValidationError, match="currency"):
            InvoiceIssued.model_validate(invoice_data | {"currency": currency})


def test_decimals_serialize_as_plain_strings(
    payloads: dict[type[BaseModel], BaseModel], invoice_data: dict[str, Any]
) -> None:
    line = json.loads(payloads[InvoiceIssued].model_dump_json())["lines"][0]
    assert (line["quantity"], line["tax_rate_percent"]) == ("1.5", "20")
    project = payloads[ProjectState].model_copy(update={"budget_hours": Decimal("1E+2")})
    assert json.loads(project.model_dump_json())["budget_hours"] == "100"
    assert (
        InvoiceIssued.model_validate_json(payloads[InvoiceIssued].model_dump_json())
        == (payloads[InvoiceIssued])
    )


def test_time_entry_rules(payloads: dict[type[BaseModel], BaseModel]) -> None:
    data = payloads[TimeEntryState].model_dump()
    for changes in (
        {"ended_at": data["started_at"]},
        {"ended_at": data["started_at"] - timedelta(minutes=1)},
        {"duration_seconds": 0},
        {"version": 0},
        {"description": "x" * 2001},
        {"started_at": data["started_at"].replace(tzinfo=None)},
    ):
        with pytest.raises(ValidationError):
            TimeEntryState.model_validate(data | changes)
    minimal = {k: v for k, v in data.items() if k not in {"task", "description", "tags"}}
    entry = TimeEntryState.model_validate(minimal)
    assert (entry.task, entry.description, entry.tags) == (None, "", [])


def test_project_rounding_choices(payloads: dict[type[BaseModel], BaseModel]) -> None:
    data = payloads[ProjectState].model_dump()
    for changes in (
        {"rounding_increment_minutes": 5},
        {"rounding_mode": "bankers"},
        {"budget_amount_minor": -1},
    ):
        with pytest.raises(ValidationError):
            ProjectState.model_validate(data | changes)
    without_code = {k: v for k, v in data.items() if k != "code"}
    with pytest.raises(ValidationError, match="code"):
        ProjectState.model_validate(without_code)


def test_payment_amount_is_positive(payloads: dict[type[BaseModel], BaseModel]) -> None:
    data = payloads[PaymentReceived].model_dump()
    for changes in ({"amount_minor": 0}, {"method": "bitcoin"}, {"currency": "usd"}):
        with pytest.raises(ValidationError):
            PaymentReceived.model_validate(data | changes)
    assert PaymentReceived.model_validate(data | {"method": "card"}).method == "card"
