from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

import pytest
from pydantic import BaseModel, ConfigDict

from contracts.compat import breaking_changes
from contracts.registry import EVENTS
from contracts.schemas import event_schema


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


class V1(Strict):
    id: UUID
    amount_minor: int
    note: str | None = None


def test_identical_schemas_are_compatible() -> None:
    assert breaking_changes(schema(V1), schema(V1)) == []


@pytest.mark.parametrize("spec", EVENTS.values(), ids=lambda spec: spec.event_type)
def test_registered_schemas_are_compatible_with_themselves(spec: Any) -> None:
    assert breaking_changes(event_schema(spec), event_schema(spec)) == []


def test_adding_an_optional_field_is_fine() -> None:
    class V2(Strict):
        id: UUID
        amount_minor: int
        note: str | None = None
        reference: str | None = None

    assert breaking_changes(schema(V1), schema(V2)) == []


def test_removing_a_field_is_breaking() -> None:
    class V2(Strict):
        id: UUID
        amount_minor: int

    assert breaking_changes(schema(V1), schema(V2)) == ["$.note: property removed"]


def test_retyping_a_field_is_breaking() -> None:
    class V2(Strict):
        id: UUID
        amount_minor: str
        note: str | None = None

    assert breaking_changes(schema(V1), schema(V2)) == [
        "$.amount_minor: type changed from ['integer'] to ['string']"
    ]


def test_widening_a_type_is_fine() -> None:
    class V2(Strict):
        id: UUID
        amount_minor: int | str
        note: str | None = None

    assert breaking_changes(schema(V1), schema(V2)) == []


def test_dropping_null_is_breaking() -> None:
    class V2(Strict):
        id: UUID
        amount_minor: int
        note: str = ""

    assert breaking_changes(schema(V1), schema(V2)) == [
        "$.note: type changed from ['null', 'string'] to ['string']"
    ]


def test_making_an_optional_field_required_is_breaking() -> None:
    class V2(Strict):
        id: UUID
        amount_minor: int
        note: str | None

    assert breaking_changes(schema(V1), schema(V2)) == ["$.note: optional property made required"]


def test_adding_a_required_field_is_breaking() -> None:
    class V2(Strict):
        id: UUID
        amount_minor: int
        note: str | None = None
        currency: str

    assert breaking_changes(schema(V1), schema(V2)) == ["$.currency: new required property"]


def test_changing_a_format_is_breaking() -> None:
    class V2(Strict):
        id: str
        amount_minor: int
        note: UUID | None = None

    assert breaking_changes(schema(V1), schema(V2)) == [
        "$.note: format changed from None to 'uuid'"
    ]


def test_narrowing_an_enum_or_const_is_breaking() -> None:
    class Method(StrEnum):
        CARD = "card"
        CASH = "cash"

    class Narrower(StrEnum):
        CARD = "card"

    class Wider(StrEnum):
        CARD = "card"
        CASH = "cash"
        ACH = "ach"

    class Old(Strict):
        method: Method
        kind: Literal["a", "b"]

    class New(Strict):
        method: Narrower
        kind: Literal["a"]

    class Widened(Strict):
        method: Wider
        kind: Literal["a", "b", "c"]

    assert breaking_changes(schema(Old), schema(New)) == [
        "$.method: allowed values removed: ['\"cash\"']",
        "$.kind: allowed values removed: ['\"b\"']",
    ]
    assert breaking_changes(schema(Old), schema(Widened)) == []


def test_tightening_a_bound_is_breaking() -> None:
    old = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}}
    new = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}
    assert breaking_changes(old, new) == ["$.n: minimum raised to 1"]
    assert breaking_changes(new, old) == []


def test_nested_models_are_compared_through_refs() -> None:
    class LineV1(Strict):
        amount_minor: int
        tax_minor: int

    class LineV2(Strict):
        amount_minor: str

    class InvoiceV1(Strict):
        lines: list[LineV1]
        main: LineV1 | None = None

    class InvoiceV2(Strict):
        lines: list[LineV2]
        main: LineV2 | None = None

    assert breaking_changes(schema(InvoiceV1), schema(InvoiceV2)) == [
        "$.lines[].amount_minor: type changed from ['integer'] to ['string']",
        "$.lines[].tax_minor: property removed",
        "$.main.amount_minor: type changed from ['integer'] to ['string']",
        "$.main.tax_minor: property removed",
    ]


def test_recursive_models_terminate() -> None:
    class Node(Strict):
        name: str
        children: list[Node] = []

    assert breaking_changes(schema(Node), schema(Node)) == []


def test_moving_an_event_to_another_topic_is_breaking() -> None:
    old = schema(V1) | {"x-topic": "invoice-issued"}
    new = schema(V1) | {"x-topic": "invoice-created"}
    assert breaking_changes(old, new) == [
        "$: x-topic changed from 'invoice-issued' to 'invoice-created'"
    ]
