"""What every stored aggregate shares: identity, version and the revision rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar


class Versioned(Protocol):
    @property
    def version(self) -> int: ...
    @property
    def updated_at(self) -> datetime: ...


V = TypeVar("V", bound=Versioned)


def revised(current: V, changes: Mapping[str, Any], now: datetime) -> V:
    """`current` with `changes` applied and its version bumped, or `current` itself when the
    changes alter nothing (so a repeated PATCH publishes no event)."""
    effective = {k: v for k, v in changes.items() if getattr(current, k) != v}
    if not effective:
        return current
    # Dataclass instances are the only aggregates; the protocol keeps handlers generic.
    return dataclasses.replace(  # type: ignore[type-var]
        current, **effective, version=current.version + 1, updated_at=now
    )
