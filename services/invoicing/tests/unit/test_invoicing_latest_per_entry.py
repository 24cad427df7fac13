"""Recording only the newest command per entry equals recording every command in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from contracts.events.time_entries import TimeEntryState
from invoicing.domain.ledger import RecordTimeEntry, latest_per_entry

START = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
TENANTS = [uuid.UUID(int=1), uuid.UUID(int=2)]
ENTRIES = [uuid.UUID(int=10), uuid.UUID(int=11), uuid.UUID(int=12)]


def command(tenant: int, entry: int, version: int, n: int) -> RecordTimeEntry:
    return RecordTimeEntry(
        tenant_id=TENANTS[tenant],
        source_event_id=uuid.UUID(int=1000 + n),
        action="upsert",
        state=TimeEntryState(
            entry_id=ENTRIES[entry],
            version=version,
            member_id=uuid.UUID(int=7),
            project_id=uuid.UUID(int=9),
            started_at=START,
            ended_at=START + timedelta(minutes=version),
            duration_seconds=version * 60,
            billable=True,
        ),
    )


def one_by_one(
    stored: dict[tuple[uuid.UUID, uuid.UUID], RecordTimeEntry], cmds: list[RecordTimeEntry]
) -> dict[tuple[uuid.UUID, uuid.UUID], RecordTimeEntry]:
    """The ledger's rule applied command after command: a row moves only to a higher version."""
    rows = dict(stored)
    for cmd in cmds:
        key = (cmd.tenant_id, cmd.state.entry_id)
        if key not in rows or rows[key].state.version < cmd.state.version:
            rows[key] = cmd
    return rows


deliveries = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 2), st.integers(1, 4)), max_size=30
)


@given(deliveries, deliveries)
def test_latest_per_entry_has_the_effect_of_every_command_in_order(
    before: list[tuple[int, int, int]], batch: list[tuple[int, int, int]]
) -> None:
    stored = one_by_one({}, [command(*d, n) for n, d in enumerate(before)])
    cmds = [command(*d, 100 + n) for n, d in enumerate(batch)]

    assert one_by_one(stored, latest_per_entry(cmds)) == one_by_one(stored, cmds)


def test_one_command_per_entry_sorted_by_tenant_and_entry() -> None:
    cmds = [command(1, 2, 1, 0), command(0, 1, 3, 1), command(1, 2, 2, 2), command(0, 0, 1, 3)]

    kept = latest_per_entry(cmds)

    assert [(c.tenant_id, c.state.entry_id, c.state.version) for c in kept] == [
        (TENANTS[0], ENTRIES[0], 1),
        (TENANTS[0], ENTRIES[1], 3),
        (TENANTS[1], ENTRIES[2], 2),
    ]


def test_first_of_equal_versions_wins() -> None:
    first, second = command(0, 0, 2, 0), command(0, 0, 2, 1)

    assert latest_per_entry([first, second]) == [first]
