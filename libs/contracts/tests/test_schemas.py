from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.compat import breaking_changes
from contracts.registry import EVENTS
from contracts.schemas import event_schema, main, render_schemas, schema_filename

COMMITTED = Path(__file__).resolve().parents[1] / "schemas"
SPECS_BY_FILE = {schema_filename(spec): spec for spec in EVENTS.values()}


def _committed() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in COMMITTED.glob("*.json")}


def test_committed_schemas_are_current() -> None:
    assert _committed() == render_schemas(), (
        "schemas are stale: run `uv run python -m contracts.schemas` and commit the result"
    )


@pytest.mark.parametrize("name", sorted(_committed()))
def test_models_backward_compatible_with_committed_schemas(name: str) -> None:
    spec = SPECS_BY_FILE.get(name)
    assert spec is not None, f"{name} has no registered model: removing an event version breaks"
    committed = json.loads((COMMITTED / name).read_text(encoding="utf-8"))
    assert breaking_changes(committed, event_schema(spec)) == []


def test_every_registered_event_has_a_committed_schema() -> None:
    assert sorted(SPECS_BY_FILE) == sorted(_committed())


def test_schema_pins_type_version_topic_and_key() -> None:
    schema = event_schema(EVENTS[("payment.received", 1)])
    assert schema["properties"]["event_type"]["const"] == "payment.received"
    assert schema["properties"]["schema_version"]["const"] == 1
    assert (schema["x-topic"], schema["x-key"]) == ("payment-received", "payload.invoice_id")


def test_check_mode_reports_stale_and_orphan_files(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "--check"]) == 1
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "invoice.voided.v1.json").write_text("{}\n", encoding="utf-8")
    assert main(["--out", str(tmp_path), "--check"]) == 1
