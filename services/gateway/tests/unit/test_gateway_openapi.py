"""Merging the services' OpenAPI documents into the gateway's."""

from __future__ import annotations

from typing import Any

from gateway.domain.openapi import dangling_refs, merged


def spec(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}}


def returns(name: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"get": {"responses": {"200": {"content": {"application/json": {"schema": ref}}}}}}


OWN = spec({"/v1/api-keys": returns("KeyOut")}, {"KeyOut": {"type": "object"}})


def test_each_service_contributes_the_v1_paths_the_gateway_routes_to_it() -> None:
    doc = merged(
        OWN,
        {
            "timecapture": spec(
                {
                    "/v1/clients": returns("ClientOut"),
                    "/v1/invoices": returns("ClientOut"),  # invoicing's path: not taken
                    "/internal": returns("ClientOut"),
                },
                {"ClientOut": {"type": "object"}},
            ),
            "invoicing": spec({"/v1/invoices": returns("InvoiceOut")}, {"InvoiceOut": {}}),
        },
    )

    assert sorted(doc["paths"]) == ["/v1/api-keys", "/v1/clients", "/v1/invoices"]
    assert doc["paths"]["/v1/invoices"] == returns("InvoiceOut")
    assert doc["security"] == [{"apiKey": []}]
    assert doc["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert dangling_refs(doc) == set()


def test_a_schema_name_two_services_use_differently_is_prefixed_with_its_references() -> None:
    page_tc = {"type": "object", "title": "timecapture page"}
    page_inv = {"type": "object", "title": "invoicing page"}
    doc = merged(
        OWN,
        {
            "invoicing": spec({"/v1/invoices": returns("Page")}, {"Page": page_inv}),
            "timecapture": spec({"/v1/clients": returns("Page")}, {"Page": page_tc}),
        },
    )

    schemas = doc["components"]["schemas"]
    assert schemas["Page"] == page_inv  # the first one keeps the name
    assert schemas["timecapture.Page"] == page_tc
    assert doc["paths"]["/v1/clients"] == returns("timecapture.Page")
    assert dangling_refs(doc) == set()


def test_the_same_schema_in_two_services_is_kept_once() -> None:
    shared = {"type": "object", "title": "Problem"}
    doc = merged(
        spec({}, {"Problem": shared}),
        {"timecapture": spec({"/v1/clients": returns("Problem")}, {"Problem": shared})},
    )

    assert [n for n in doc["components"]["schemas"] if n.endswith("Problem")] == ["Problem"]


def test_a_dangling_reference_is_found() -> None:
    assert dangling_refs(spec({"/v1/x": returns("Nowhere")}, {})) == {
        "#/components/schemas/Nowhere"
    }
