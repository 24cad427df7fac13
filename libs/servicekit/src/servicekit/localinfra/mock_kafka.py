"""librdkafka's mock cluster: a Kafka-protocol broker on localhost, kept alive by this process.

Run as `python -m servicekit.localinfra.mock_kafka --topic name:partitions ...`; it prints
`BOOTSTRAP host:port` and serves until its stdin closes or it is signalled, so it never
outlives the process that started it. Its log lives in memory only.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import signal
import sys
import threading

_PRODUCER = 0


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("rdkafka") or "librdkafka.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise SystemExit(f"librdkafka is missing ({exc}): apt-get install librdkafka1") from exc
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_conf_set.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
    lib.rd_kafka_mock_topic_create.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    return lib


def serve(brokers: int, topics: list[tuple[str, int]]) -> None:
    lib = _library()
    conf = lib.rd_kafka_conf_new()
    errbuf = ctypes.create_string_buffer(512)
    # Silences "no bootstrap.servers" noise: this handle only hosts the cluster.
    lib.rd_kafka_conf_set(conf, b"log_level", b"3", errbuf, len(errbuf))
    handle = lib.rd_kafka_new(_PRODUCER, conf, errbuf, len(errbuf))
    if not handle:
        raise SystemExit(f"rd_kafka_new failed: {errbuf.value.decode()}")
    cluster = lib.rd_kafka_mock_cluster_new(handle, brokers)
    if not cluster:
        raise SystemExit("rd_kafka_mock_cluster_new failed")
    for name, partitions in topics:
        err = lib.rd_kafka_mock_topic_create(cluster, name.encode(), partitions, 1)
        if err:
            raise SystemExit(f"could not create topic {name}: error {err}")
    bootstrap = lib.rd_kafka_mock_cluster_bootstraps(cluster).decode()
    print(f"BOOTSTRAP {bootstrap}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def stop_when_parent_goes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_when_parent_goes, daemon=True).start()
    stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brokers", type=int, default=1)
    parser.add_argument("--topic", action="append", default=[], help="name:partitions")
    args = parser.parse_args()
    topics = [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in args.topic]
    serve(args.brokers, topics)


if __name__ == "__main__":
    main()
