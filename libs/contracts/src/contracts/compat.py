"""Backward-compatibility check between two JSON Schemas of the same event version.

Compatible means a consumer built from the new schema still accepts every message that was
valid under the old one. Adding optional properties is fine; removing or retyping a
property, narrowing an enum, adding a format or tighter bound, or requiring a property is not.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["breaking_changes"]

Schema = dict[str, Any]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


def breaking_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Human-readable list of incompatible changes from `old_schema` to `new_schema`.

    Paths look like `$.payload.lines[].amount_minor`; `$ref`s into `$defs` are resolved.
    """
    checker = _Checker(old_schema, new_schema)
    for key in ("x-topic", "x-key"):
        if old_schema.get(key) != new_schema.get(key):
            checker.problems.append(
                f"$: {key} changed from {old_schema.get(key)!r} to {new_schema.get(key)!r}"
            )
    checker.compare(old_schema, new_schema, "$")
    return checker.problems


class _Checker:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[str] = []
        self._active: set[tuple[str, str]] = set()

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        refs = (old.get("$ref", ""), new.get("$ref", ""))
        if not (refs[0] and refs[1]):
            self._compare(old, new, path)
        elif refs not in self._active:
            # A recursive model would otherwise be walked forever.
            self._active.add(refs)
            try:
                self._compare(old, new, path)
            finally:
                self._active.discard(refs)

    def _compare(self, old: Schema, new: Schema, path: str) -> None:
        old_variants = _variants(old, self.old_root)
        new_variants = _variants(new, self.new_root)
        old_types = set().union(*map(_types, old_variants))
        new_types = set().union(*map(_types, new_variants))
        if not _types_covered(old_types, new_types):
            self.problems.append(
                f"{path}: type changed from {sorted(old_types)} to {sorted(new_types)}"
            )
            return
        self._compare_values(old_variants, new_variants, path)
        old_single, new_single = _non_null(old_variants), _non_null(new_variants)
        if len(old_single) == 1 and len(new_single) == 1:
            self._compare_constraints(old_single[0], new_single[0], path)
        for old_obj, new_obj in _pairs(old_variants, new_variants, "object"):
            self._compare_objects(old_obj, new_obj, path)
        for old_arr, new_arr in _pairs(old_variants, new_variants, "array"):
            if isinstance(old_arr.get("items"), dict) and isinstance(new_arr.get("items"), dict):
                self.compare(old_arr["items"], new_arr["items"], f"{path}[]")

    def _compare_values(self, old: list[Schema], new: list[Schema], path: str) -> None:
        old_values, new_values = _allowed_values(old), _allowed_values(new)
        if new_values is None:
            return
        if old_values is None:
            self.problems.append(f"{path}: values restricted to {sorted(new_values)}")
        elif lost := old_values - new_values:
            self.problems.append(f"{path}: allowed values removed: {sorted(lost)}")

    def _compare_constraints(self, old: Schema, new: Schema, path: str) -> None:
        if new.get("format") is not None and new.get("format") != old.get("format"):
            self.problems.append(
                f"{path}: format changed from {old.get('format')!r} to {new['format']!r}"
            )
        if new.get("pattern") is not None and new.get("pattern") != old.get("pattern"):
            self.problems.append(f"{path}: pattern changed to {new['pattern']!r}")
        for key in _LOWER_BOUNDS:
            if key in new and (key not in old or new[key] > old[key]):
                self.problems.append(f"{path}: {key} raised to {new[key]}")
        for key in _UPPER_BOUNDS:
            if key in new and (key not in old or new[key] < old[key]):
                self.problems.append(f"{path}: {key} lowered to {new[key]}")

    def _compare_objects(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        for name, old_prop in old_props.items():
            if name not in new_props:
                self.problems.append(f"{path}.{name}: property removed")
            else:
                self.compare(old_prop, new_props[name], f"{path}.{name}")
        for name in sorted(new_required - old_required):
            if name in old_props:
                self.problems.append(f"{path}.{name}: optional property made required")
            else:
                self.problems.append(f"{path}.{name}: new required property")
        if old.get("additionalProperties", True) is not False and (
            new.get("additionalProperties", True) is False
        ):
            self.problems.append(f"{path}: additional properties no longer allowed")


def _resolve(node: Schema, root: Schema) -> Schema:
    while True:
        if "$ref" in node:
            ref: str = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local $refs are supported, got {ref!r}")
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            node = {**target, **siblings}
        elif "allOf" in node and len(node["allOf"]) == 1:
            siblings = {key: value for key, value in node.items() if key != "allOf"}
            node = {**node["allOf"][0], **siblings}
        else:
            return node


def _variants(node: Schema, root: Schema) -> list[Schema]:
    node = _resolve(node, root)
    for key in ("anyOf", "oneOf"):
        if key in node:
            return [variant for sub in node[key] for variant in _variants(sub, root)]
    return [node]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types(variant: Schema) -> set[str]:
    declared = variant.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    if "const" in variant:
        return {_json_type(variant["const"])}
    if "enum" in variant:
        return {_json_type(value) for value in variant["enum"]}
    if "properties" in variant:
        return {"object"}
    return {"any"}


def _types_covered(old: set[str], new: set[str]) -> bool:
    if "any" in new:
        return True
    return all(t in new or (t == "integer" and "number" in new) for t in old)


def _allowed_values(variants: list[Schema]) -> set[str] | None:
    """JSON texts of every allowed value, or None when some variant is unrestricted."""
    values: set[str] = set()
    for variant in variants:
        if "const" in variant:
            values.add(json.dumps(variant["const"], sort_keys=True))
        elif "enum" in variant:
            values.update(json.dumps(value, sort_keys=True) for value in variant["enum"])
        elif _types(variant) == {"null"}:
            values.add("null")
        else:
            return None
    return values


def _non_null(variants: list[Schema]) -> list[Schema]:
    return [variant for variant in variants if _types(variant) != {"null"}]


def _pairs(old: list[Schema], new: list[Schema], kind: str) -> list[tuple[Schema, Schema]]:
    old_of_kind = [variant for variant in old if kind in _types(variant)]
    new_of_kind = [variant for variant in new if kind in _types(variant)]
    if len(old_of_kind) == 1 and len(new_of_kind) == 1:
        return [(old_of_kind[0], new_of_kind[0])]
    # Unions of several models: pair them by title.
    by_title = {variant.get("title"): variant for variant in new_of_kind}
    return [
        (variant, by_title[variant.get("title")])
        for variant in old_of_kind
        if variant.get("title") in by_title
    ]
