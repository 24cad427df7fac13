"""JSON Schema files of every registered event version.

`python -m contracts.schemas` (re)writes `libs/contracts/schemas/<event_type>.v<N>.json`;
`--check` only reports files that are stale, missing or without a registered model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Final

from contracts.envelope import envelope_model
from contracts.registry import EVENTS, EventSpec

__all__ = ["SCHEMA_DIR", "event_schema", "main", "render_schemas", "schema_filename"]

# Only meaningful in a source checkout (editable install); pass --out otherwise.
SCHEMA_DIR: Final = Path(__file__).resolve().parents[2] / "schemas"


def schema_filename(spec: EventSpec) -> str:
    """`<event_type>.v<N>.json`."""
    return f"{spec.event_type}.v{spec.schema_version}.json"


def event_schema(spec: EventSpec) -> dict[str, Any]:
    """The envelope schema with this event's payload, type and version pinned."""
    schema = envelope_model(spec.payload_model).model_json_schema()
    properties = schema["properties"]
    properties["event_type"]["const"] = spec.event_type
    properties["schema_version"]["const"] = spec.schema_version
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"{spec.event_type} v{spec.schema_version}"
    schema["x-topic"] = spec.topic
    schema["x-key"] = f"payload.{spec.key_field}"
    return schema


def render_schemas() -> dict[str, str]:
    """File name -> file text for every registered event version."""
    return {
        schema_filename(spec): json.dumps(event_schema(spec), indent=2, sort_keys=True) + "\n"
        for spec in EVENTS.values()
    }


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the schema files; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m contracts.schemas")
    parser.add_argument("--out", type=Path, default=SCHEMA_DIR, help="directory of the files")
    parser.add_argument("--check", action="store_true", help="fail if files are not current")
    args = parser.parse_args(argv)
    out: Path = args.out
    rendered = render_schemas()
    if args.check:
        existing = {path.name for path in out.glob("*.json")}
        stale = sorted(
            name
            for name, text in rendered.items()
            if name not in existing or (out / name).read_text(encoding="utf-8") != text
        )
        orphans = sorted(existing - rendered.keys())
        for name in stale:
            sys.stderr.write(f"stale or missing: {name}\n")
        for name in orphans:
            sys.stderr.write(f"no registered model (removing a version is breaking): {name}\n")
        return 1 if stale or orphans else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {len(rendered)} schemas to {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
