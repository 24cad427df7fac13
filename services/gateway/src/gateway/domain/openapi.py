"""One OpenAPI document for the whole API: the gateway's own routes plus each service's
`/v1` paths, as the gateway routes them. A schema name two services both use, with different
content, is prefixed with the service's name, and that service's references follow."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gateway.domain.routing import PROVIDER_WEBHOOKS, owner_of

_REF = "#/components/schemas/"
BEARER = {"apiKey": {"type": "http", "scheme": "bearer", "description": "An API key (bsk_...)."}}


def merged(own: Mapping[str, Any], services: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`own` is the gateway's document; `services` maps a service name to its document."""
    doc = copy.deepcopy(dict(own))
    paths: dict[str, Any] = doc.setdefault("paths", {})
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for service, spec in sorted(services.items()):
        theirs: dict[str, Any] = spec.get("components", {}).get("schemas", {})
        renamed = {
            name: f"{service}.{name}"
            for name, schema in theirs.items()
            if name in schemas and schemas[name] != schema
        }
        for name, schema in theirs.items():
            schemas[renamed.get(name, name)] = _renamed(schema, renamed)
        for path, item in spec.get("paths", {}).items():
            if path.startswith("/v1/") and owner_of(path) == service:
                paths[path] = _renamed(item, renamed)
    for path in PROVIDER_WEBHOOKS:
        if "post" in paths.get(path, {}):
            # Called by the provider with its own signature, never with one of our keys.
            paths[path]["post"]["security"] = []
    doc["components"]["securitySchemes"] = BEARER
    doc["security"] = [{"apiKey": []}]
    return doc


def _renamed(node: Any, renamed: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _renamed(v, renamed) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            name = ref.removeprefix(_REF)
            out["$ref"] = _REF + renamed.get(name, name)
        return out
    if isinstance(node, list):
        return [_renamed(v, renamed) for v in node]
    return node


def dangling_refs(doc: Mapping[str, Any]) -> set[str]:
    """Schema references that name no schema of the document (none, in a sound one)."""
    names = set(doc.get("components", {}).get("schemas", {}))
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF) and ref[len(_REF) :] not in names:
                found.add(ref)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return found
