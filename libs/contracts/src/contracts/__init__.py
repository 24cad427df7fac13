"""Billstream event contracts: the envelope, payload models, topics and money."""

from contracts.envelope import EventEnvelope
from contracts.money import (
    CurrencyCode,
    MixedCurrencyError,
    Money,
    UnknownCurrencyError,
    currency_exponent,
    round_to_minor,
)
from contracts.registry import (
    EVENTS,
    EventSpec,
    UnknownEventError,
    build_event,
    decode_event,
    encode_event,
    event_key,
    spec_for,
)
from contracts.topics import TOPICS, Topic, all_topic_names, dlq_topic

__all__ = [
    "EVENTS",
    "TOPICS",
    "CurrencyCode",
    "EventEnvelope",
    "EventSpec",
    "MixedCurrencyError",
    "Money",
    "Topic",
    "UnknownCurrencyError",
    "UnknownEventError",
    "all_topic_names",
    "build_event",
    "currency_exponent",
    "decode_event",
    "dlq_topic",
    "encode_event",
    "event_key",
    "round_to_minor",
    "spec_for",
]
