"""Kafka topics of the billing streams, with the key that orders each aggregate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

__all__ = ["DLQ_SUFFIX", "TOPICS", "Topic", "all_topic_names", "dlq_topic"]

DLQ_SUFFIX: Final = ".dlq"


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic and the payload field whose value is the message key."""

    name: str
    key: str
    partitions: int
    cleanup_policy: Literal["delete", "compact"]
    description: str


TOPICS: Final[Mapping[str, Topic]] = MappingProxyType(
    {
        topic.name: topic
        for topic in (
            Topic(
                "time-entry-logged",
                "entry_id",
                6,
                "delete",
                "Time entries logged, revised and deleted, in order per entry.",
            ),
            Topic(
                "invoice-issued",
                "invoice_id",
                6,
                "delete",
                "Invoices as issued, with lines and the time entries they bill.",
            ),
            Topic(
                "invoice-voided",
                "invoice_id",
                6,
                "delete",
                "Issued invoices voided; their time entries become editable and billable again.",
            ),
            Topic(
                "invoice-paid",
                "invoice_id",
                6,
                "delete",
                "Invoices whose payments and credits reached their total.",
            ),
            Topic(
                "invoice-overdue",
                "invoice_id",
                6,
                "delete",
                "Issued invoices past their due date with a balance, once per invoice.",
            ),
            Topic(
                "invoice-written-off",
                "invoice_id",
                6,
                "delete",
                "Invoice balances written off as uncollectible.",
            ),
            Topic(
                "credit-note-issued",
                "invoice_id",
                6,
                "delete",
                "Credit notes against issued invoices, keyed by the invoice they credit.",
            ),
            Topic(
                "budget-threshold-crossed",
                "project_id",
                6,
                "delete",
                "A project's time or cost reached 80 % or 100 % of its budget, once per threshold.",
            ),
            Topic(
                "payment-received",
                "invoice_id",
                6,
                "delete",
                "Payments received, keyed by the invoice they pay so they follow its issue.",
            ),
            Topic(
                "payment-refunded",
                "invoice_id",
                6,
                "delete",
                "Refunds of payments, keyed by the invoice the payment paid.",
            ),
            Topic(
                "credit-paid-out",
                "client_id",
                6,
                "delete",
                "Credit balances paid back to clients, keyed by client.",
            ),
            Topic(
                "client-changed",
                "client_id",
                6,
                "compact",
                "Latest full state of every client, for local replicas.",
            ),
            Topic(
                "project-changed",
                "project_id",
                6,
                "compact",
                "Latest full state of every project, for local replicas.",
            ),
        )
    }
)


def dlq_topic(name: str) -> str:
    """Dead-letter topic for messages of `name` that exhausted their retries."""
    return f"{name}{DLQ_SUFFIX}"


def all_topic_names(include_dlq: bool = True) -> list[str]:
    """Every topic to create, sorted, with their dead-letter topics unless told otherwise."""
    names = list(TOPICS)
    if include_dlq:
        names += [dlq_topic(name) for name in TOPICS]
    return sorted(names)
