from __future__ import annotations

from uuid import uuid4

from servicekit.outbox import LANES, lane_of, notify_channel


def test_lane_of_is_deterministic() -> None:
    key = str(uuid4()).encode()

    assert {lane_of(key) for _ in range(10)} == {lane_of(bytes(key))}


def test_lane_of_known_keys_are_stable() -> None:
    # Pinned: rows already in an outbox keep their lane across releases.
    assert [lane_of(k) for k in (b"", b"a", b"b")] == [0, 3, 9]


def test_lanes_are_in_range_and_all_used() -> None:
    lanes = [lane_of(str(uuid4()).encode()) for _ in range(2000)]

    assert all(0 <= lane < LANES for lane in lanes)
    assert set(lanes) == set(range(LANES))


def test_notify_channel_matches_the_trigger_of_the_kit_migration() -> None:
    assert notify_channel("timecapture") == "outbox_timecapture"
