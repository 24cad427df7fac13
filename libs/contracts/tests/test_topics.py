from __future__ import annotations

import pytest

from contracts.topics import TOPICS, all_topic_names, dlq_topic


def test_fixed_topic_names_and_keys() -> None:
    assert {name: topic.key for name, topic in TOPICS.items()} == {
        "time-entry-logged": "entry_id",
        "invoice-issued": "invoice_id",
        "invoice-voided": "invoice_id",
        "budget-threshold-crossed": "project_id",
        "invoice-paid": "invoice_id",
        "invoice-overdue": "invoice_id",
        "invoice-written-off": "invoice_id",
        "credit-note-issued": "invoice_id",
        "payment-received": "invoice_id",
        "payment-refunded": "invoice_id",
        "credit-paid-out": "client_id",
        "client-changed": "client_id",
        "project-changed": "project_id",
    }
    assert all(topic.partitions == 6 and topic.description for topic in TOPICS.values())


def test_state_topics_are_compacted() -> None:
    compacted = {name for name, topic in TOPICS.items() if topic.cleanup_policy == "compact"}
    assert compacted == {"client-changed", "project-changed"}


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        TOPICS["other"] = TOPICS["invoice-issued"]  # type: ignore[index]


def test_dlq_names() -> None:
    assert dlq_topic("invoice-issued") == "invoice-issued.dlq"
    assert all_topic_names(include_dlq=False) == sorted(TOPICS)
    names = all_topic_names()
    assert len(names) == 26
    assert "payment-received.dlq" in names
    assert names == sorted(names)
