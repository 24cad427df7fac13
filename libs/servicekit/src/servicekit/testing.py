"""pytest plugin: the same Postgres and broker bootstrap as `make run`, for every test suite.

Tests share one session database; each test isolates itself by using a fresh tenant id
(row-level security does the rest) and fresh aggregate ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import uvicorn
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from servicekit.identity import Identity, IdentitySigner, generate_keypair
from servicekit.localinfra.bootstrap import bootstrap_database
from servicekit.localinfra.catalog import by_name, repo_root
from servicekit.localinfra.kafka import KafkaHandle, start_kafka
from servicekit.localinfra.postgres import PostgresCluster
from servicekit.sealing import new_key
from servicekit.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
TEST_DATABASE = "billstream_test"


@dataclass
class Infra:
    cluster: PostgresCluster
    kafka: KafkaHandle
    database: str
    private_key: str
    public_key: str
    # Seals provider secrets in every service under test that keeps some (payments).
    sealing_key: str = field(default_factory=new_key)

    def dsn(self, service: str) -> str:
        return self.cluster.dsn(service, by_name(service).password(), self.database)

    def admin_dsn(self) -> str:
        return self.cluster.admin_dsn(self.database)

    def settings(self, cls: type[S], **overrides: Any) -> S:
        """Settings for a service under test: fast retries, every span sampled."""
        name = cls.model_fields["service_name"].default
        values: dict[str, Any] = {
            "http_port": 0,
            "kafka_bootstrap_servers": self.kafka.bootstrap_servers,
            "identity_public_key": self.public_key,
            "trace_sample_ratio": 1.0,
            "outbox_poll_interval_s": 0.2,
            "consumer_backoff_s": 0.05,
            "consumer_max_attempts": 3,
            "consumer_session_timeout_ms": 3_000,
            "consumer_heartbeat_interval_ms": 300,
            "db_pool_min_size": 1,
            "db_pool_max_size": 4,
        }
        if by_name(name).database:
            values["database_url"] = self.dsn(name)
        if "secret_keys" in cls.model_fields:
            values["secret_keys"] = f"test:{self.sealing_key}"
        values.update(overrides)
        return cls(**values)

    async def fetch_as_tenant(
        self, service: str, tenant_id: uuid.UUID, query: str, *args: Any
    ) -> list[Any]:
        """Rows a service's role sees for one tenant (row-level security applies)."""
        import asyncpg

        from servicekit.db import set_tenant

        conn = await asyncpg.connect(self.dsn(service))
        try:
            async with conn.transaction():
                await set_tenant(conn, tenant_id)
                return await conn.fetch(query, *args)
        finally:
            await conn.close()

    def token(self, identity: Identity) -> str:
        return IdentitySigner(self.private_key).sign(identity)


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@contextlib.contextmanager
def local_infra(port: int, database: str = TEST_DATABASE) -> Iterator[Infra]:
    """Postgres (under .local/, started if needed) and a broker, with a fresh database."""
    cluster = PostgresCluster.at(repo_root() / ".local" / f"test-postgres-{port}", port)
    started = cluster.start()
    kafka: KafkaHandle | None = None
    try:
        kafka = start_kafka()
        asyncio.run(
            bootstrap_database(
                cluster.admin_dsn(), cluster.admin_dsn(database), database, fresh=True
            )
        )
        private, public = generate_keypair()
        yield Infra(cluster, kafka, database, private, public)
    finally:
        if kafka is not None:
            kafka.stop()
        if started:
            cluster.stop()


@pytest.fixture(scope="session")
def infra(span_exporter: InMemorySpanExporter) -> Iterator[Infra]:
    with local_infra(int(os.environ.get("BILLSTREAM_TEST_PG_PORT", "55433"))) as ready:
        yield ready


# Well under pytest-timeout's 300 s: its report of a stuck async test shows only the event
# loop waiting in select, not which await never returns.
STUCK_AFTER_S = float(os.environ.get("BILLSTREAM_TEST_STUCK_AFTER_S", "150"))


@pytest.fixture(autouse=True)
async def _tasks_printed_if_stuck(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """A test still running after `STUCK_AFTER_S` prints every asyncio task's stack to the
    terminal, past pytest's capture (a timed-out test can break the report of what it
    captured)."""
    loop = asyncio.get_running_loop()
    capture = request.config.pluginmanager.getplugin("capturemanager")
    timer = threading.Timer(
        STUCK_AFTER_S, loop.call_soon_threadsafe, args=(_print_tasks, request.node.nodeid, capture)
    )
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _print_tasks(test: str, capture: Any) -> None:
    uncaptured = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    with uncaptured:
        sys.stderr.write(f"\n=== {test} still running after {STUCK_AFTER_S:.0f} s ===\n")
        for task in asyncio.all_tasks():
            sys.stderr.write(f"--- {task.get_name()}\n")
            task.print_stack(file=sys.stderr)
        sys.stderr.flush()


@pytest.fixture
def tenant_id() -> uuid.UUID:
    return uuid.uuid4()


@contextlib.asynccontextmanager
async def serve(
    app: FastAPI, *, start_timeout_s: float = 90.0, stop_timeout_s: float = 30.0
) -> AsyncIterator[str]:
    """Run an app on a free loopback port in this event loop; yields its base URL.

    Start and stop are bounded: the whole session shares one event loop, so an app left
    running by a stuck test would keep its consumer group memberships and break every later
    test that starts the same service."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    # The test process owns signal handling, not the app under test.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + start_timeout_s
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            if loop.time() > deadline:
                raise TimeoutError(f"app not started within {start_timeout_s}s")
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        if not server.started:
            task.cancel()  # a start-up that is stuck does not notice should_exit
        # Bounded twice: a stop stuck after the cancel must not hang the session either.
        done, _ = await asyncio.wait([task], timeout=stop_timeout_s)
        if not done:
            task.cancel()
            await asyncio.wait([task], timeout=stop_timeout_s)
            raise TimeoutError(f"app not stopped within {stop_timeout_s}s")
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error


async def eventually(
    probe: Any, *, timeout: float = 15.0, interval: float = 0.05, message: str = "condition"
) -> Any:
    """Await `probe()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    keep: Any,
    *,
    expected: int,
    timeout: float = 15.0,
) -> list[Any]:
    """Records of `topic` (from the start, no consumer group) for which `keep(record)` holds.

    Stops once `expected` records were kept or after `timeout`; the caller asserts the count.
    """
    from aiokafka import AIOKafkaConsumer

    # No group: every partition from its beginning, without a rebalance to wait for.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found) < expected and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            found += [r for records in batch.values() for r in records if keep(r)]
    finally:
        await consumer.stop()
    return found


def check_settings_prefix(
    settings_cls: type[ServiceSettings],
    *,
    default_port: int,
    other_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service reads its own `<NAME>_` variables, ignores others' and unprefixed ones."""
    name = settings_cls.model_fields["service_name"].default
    own = f"{name.upper()}_"
    fields = ("HTTP_PORT", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "LOG_LEVEL")
    for prefix in (own, other_prefix, ""):
        for name_ in fields:
            monkeypatch.delenv(prefix + name_, raising=False)
    defaults = settings_cls()
    assert (defaults.service_name, defaults.http_port) == (name, default_port)
    assert defaults.database_url is None
    assert defaults.kafka_bootstrap_servers is None

    for prefix in (other_prefix, ""):
        monkeypatch.setenv(prefix + "HTTP_PORT", "9999")
        monkeypatch.setenv(prefix + "DATABASE_URL", "postgresql://intruder@db/billstream")
    ignored = settings_cls()
    assert (ignored.http_port, ignored.database_url) == (default_port, None)

    monkeypatch.setenv(own + "HTTP_PORT", "9100")
    monkeypatch.setenv(own + "DATABASE_URL", f"postgresql://{name}@db/billstream")
    monkeypatch.setenv(own + "KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    read = settings_cls()
    assert read.http_port == 9100
    assert read.database_url == f"postgresql://{name}@db/billstream"
    assert read.kafka_bootstrap_servers == "kafka:9092"


async def check_service_boots(infra: Infra, app: FastAPI) -> None:
    """Ready on the real Postgres and broker, Prometheus metrics served, the kit's tables
    created in the service's own schema and nowhere else."""
    import asyncpg
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    name = app.state.runtime.settings.service_name
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/livez")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        checks = {"database": "ok", "migrations": "ok", "broker": "ok"}
        if app.state.runtime.definition.subscriptions:
            checks["consumers"] = "ok"
        assert ready.json() == {"status": "ready", "checks": checks}
        metrics = await http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert [s.labels for s in families["service_info"].samples] == [{"service": name}]
    assert any(
        s.labels == {"method": "GET", "route": "/livez", "status": "200"}
        for s in families["http_requests"].samples
    )

    conn = await asyncpg.connect(infra.dsn(name))
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_name IN ('outbox', 'inbox', 'schema_migrations')"
        )
        search_path = await conn.fetchval("SHOW search_path")
    finally:
        await conn.close()
    assert {(r["table_schema"], r["table_name"]) for r in tables} == {
        (name, "outbox"),
        (name, "inbox"),
        (name, "schema_migrations"),
    }
    assert search_path == name
