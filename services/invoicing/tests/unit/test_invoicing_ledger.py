"""Which ledger action each time entry event asks for."""

from __future__ import annotations

import pytest

from contracts.registry import EVENTS
from invoicing.domain.ledger import UnknownLedgerEvent, action_for


@pytest.mark.parametrize(
    ("event_type", "action"),
    [
        ("time_entry.logged", "upsert"),
        ("time_entry.revised", "upsert"),
        ("time_entry.deleted", "delete"),
    ],
)
def test_time_entry_events_map_to_ledger_actions(event_type: str, action: str) -> None:
    assert action_for(event_type) == action


@pytest.mark.parametrize("event_type", ["invoice.issued", "time_entry.archived", "time_entry", ""])
def test_unknown_event_type_raises(event_type: str) -> None:
    with pytest.raises(UnknownLedgerEvent, match="invoicing does not handle"):
        action_for(event_type)


def test_unknown_ledger_event_is_a_value_error() -> None:
    assert issubclass(UnknownLedgerEvent, ValueError)


def test_every_event_on_the_subscribed_topic_has_an_action() -> None:
    on_topic = {spec.event_type for spec in EVENTS.values() if spec.topic == "time-entry-logged"}
    assert on_topic == {"time_entry.logged", "time_entry.revised", "time_entry.deleted"}
    assert {action_for(event_type) for event_type in on_topic} == {"upsert", "delete"}
