from __future__ import annotations

import time
import uuid

from servicekit.clock import uuid7


def unix_ms(value: uuid.UUID) -> int:
    return value.int >> 80


def test_uuid7_is_version_7_with_the_rfc_variant() -> None:
    for _ in range(100):
        value = uuid7()
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


def test_uuid7_carries_the_current_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000

    assert before <= unix_ms(value) <= after


def test_uuid7_sorts_by_creation_time() -> None:
    ids = []
    for _ in range(5):
        ids.append(uuid7())
        time.sleep(0.002)

    assert ids == sorted(ids)
    assert ids == sorted(ids, key=lambda u: u.int)
    assert len(set(ids)) == len(ids)


def test_uuid7_is_random_within_one_millisecond() -> None:
    ids = {uuid7() for _ in range(1000)}

    assert len(ids) == 1000


def test_uuid7_texts_are_distinct_version_7_rfc_uuids_of_now() -> None:
    import time
    import uuid

    from servicekit.clock import uuid7_texts

    before = time.time_ns() // 1_000_000
    texts = uuid7_texts(5000)
    after = time.time_ns() // 1_000_000

    parsed = [uuid.UUID(t) for t in texts]
    assert [str(u) for u in parsed] == texts
    assert len(set(parsed)) == 5000
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert all(before <= u.int >> 80 <= after for u in parsed)
    assert uuid7_texts(0) == []
