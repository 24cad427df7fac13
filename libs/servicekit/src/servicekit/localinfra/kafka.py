"""A Kafka-protocol broker: the configured cluster, else apache/kafka in Docker, else the mock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from contracts.topics import TOPICS, Topic, dlq_topic

KAFKA_IMAGE = "apache/kafka:3.9.1"


@dataclass
class KafkaHandle:
    bootstrap_servers: str
    kind: Literal["external", "docker", "mock"]
    _stop: Callable[[], None] = field(default=lambda: None, repr=False)

    def stop(self) -> None:
        self._stop()


def platform_topics() -> list[Topic]:
    """Every contract topic and its dead-letter topic."""
    topics = list(TOPICS.values())
    topics += [
        Topic(dlq_topic(t.name), t.key, t.partitions, "delete", f"Dead letters of {t.name}")
        for t in TOPICS.values()
    ]
    return topics


def start_kafka(topics: Sequence[Topic] | None = None) -> KafkaHandle:
    wanted = list(topics) if topics is not None else platform_topics()
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        handle = KafkaHandle(configured, "external")
    elif _docker_available():
        handle = _start_docker()
    else:
        return _start_mock(wanted)
    asyncio.run(create_topics(handle.bootstrap_servers, wanted))
    return handle


async def create_topics(bootstrap_servers: str, topics: Sequence[Topic]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                t.name,
                num_partitions=t.partitions,
                replication_factor=1,
                topic_configs={"cleanup.policy": t.cleanup_policy},
            )
            for t in topics
            if t.name not in existing
        ]
        if new:
            # Another bootstrap may have raced us to it.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    finally:
        await admin.close()


def _docker_available() -> bool:
    """Whether a Docker engine answers: a `docker` client binary alone is not enough."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return True  # a remote engine was configured on purpose; testcontainers reports errors
    path = host.removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = s.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return b" 200 " in status_line + b" "


def _start_docker() -> KafkaHandle:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    port = _free_port()
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(9092, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        )
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
    )
    container.start()
    wait_for_logs(container, "Kafka Server started", timeout=120)
    return KafkaHandle(f"127.0.0.1:{port}", "docker", container.stop)


def _start_mock(topics: Sequence[Topic]) -> KafkaHandle:
    args = [sys.executable, "-m", "servicekit.localinfra.mock_kafka"]
    for t in topics:
        args += ["--topic", f"{t.name}:{t.partitions}"]
    # Its own session: a terminal's Ctrl-C must not stop the broker before the services
    # that are still draining into it. It exits when this process goes (stdin closes).
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("BOOTSTRAP "):
        proc.kill()
        raise RuntimeError(f"mock Kafka cluster did not start (said {line!r})")

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()

    return KafkaHandle(line.removeprefix("BOOTSTRAP "), "mock", stop)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
