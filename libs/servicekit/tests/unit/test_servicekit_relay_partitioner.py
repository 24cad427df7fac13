"""The relay places records itself: it must agree with Kafka's default partitioner."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from servicekit.relay import murmur2, partition_for


@given(st.binary(max_size=80))
def test_murmur2_is_aiokafkas(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=64))
def test_partition_is_the_default_partitioners(key: bytes, count: int) -> None:
    partitions = list(range(count))

    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_known_keys_keep_their_partition() -> None:
    # Pinned: changing the hash would move a key's later events away from its earlier ones.
    keys = [b"", b"a", b"entry-1", b"00000000-0000-0000-0000-000000000001"]
    assert [murmur2(k) for k in keys] == [aiokafka_murmur2(k) for k in keys]
    assert [partition_for(k, list(range(6))) for k in keys] == [
        DefaultPartitioner()(k, list(range(6)), []) for k in keys
    ]
