"""Builds a service: FastAPI app and Kafka broker side by side in one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.telemetry import TelemetryConfig
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.util.http import parse_excluded_urls

from servicekit import db, idempotency, jobs, migrations
from servicekit.clock import Clock, IdFactory, utc_now, uuid7
from servicekit.consumer import ConsumerGroup, ConsumerPolicy, IdempotentConsumer, Subscription
from servicekit.health import router as health_router
from servicekit.identity import IdentityVerifier, require_identity, require_provider
from servicekit.metrics import HttpMetricsMiddleware, ServiceMetrics, metrics_endpoint
from servicekit.problems import install_problem_handlers
from servicekit.relay import OutboxRelay, new_producer
from servicekit.settings import ServiceSettings
from servicekit.telemetry import instrument_asyncpg, server_span_details, setup_tracing

log = logging.getLogger(__name__)

_NO_NATIVE_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


@dataclass
class ServiceDefinition:
    """What a service declares; the kit supplies everything else."""

    settings: ServiceSettings
    title: str
    routers: Sequence[APIRouter] = ()
    subscriptions: Sequence[Subscription] = ()
    migrations_dir: Path | None = None
    # Routes that authenticate on their own (the gateway's), without an identity token.
    public_routers: Sequence[APIRouter] = ()
    # Routes a payment provider calls through the gateway (webhooks): a provider identity
    # only, which no other route accepts.
    webhook_routers: Sequence[APIRouter] = ()
    clock: Clock = utc_now
    new_id: IdFactory = uuid7
    # Extra resources living as long as the app (the gateway's HTTP client pool).
    resources: Sequence[Callable[[Runtime], AbstractAsyncContextManager[None]]] = ()
    # Last touches to the built app (the gateway's CORS middleware).
    customize: Callable[[FastAPI], None] | None = None


@dataclass
class Runtime:
    """Live resources of one running service, reachable from routes as app.state.runtime."""

    definition: ServiceDefinition
    metrics: ServiceMetrics
    migrations: list[migrations.Migration]
    verifier: IdentityVerifier | None
    pool: db.Pool | None = None
    producer: AIOKafkaProducer | None = None
    relay: OutboxRelay | None = None
    broker: KafkaBroker | None = None
    consumers: list[IdempotentConsumer] = field(default_factory=list)
    # Resources a service adds through ServiceDefinition.resources, by name.
    state: dict[str, Any] = field(default_factory=dict)
    started: bool = False

    @property
    def settings(self) -> ServiceSettings:
        return self.definition.settings

    @property
    def clock(self) -> Clock:
        return self.definition.clock

    @property
    def new_id(self) -> IdFactory:
        return self.definition.new_id

    def require_pool(self) -> db.Pool:
        assert self.pool is not None, "this service runs without a database"
        return self.pool

    async def start(self) -> None:
        s = self.settings
        setup_tracing(s.service_name, s.otlp_endpoint, s.trace_sample_ratio)
        if s.database_url:
            if s.trace_db_queries:
                instrument_asyncpg()
            self.pool = await db.create_pool(
                s.database_url,
                schema=s.service_name,
                application_name=s.service_name,
                min_size=s.db_pool_min_size,
                max_size=s.db_pool_max_size,
                command_timeout_s=s.db_command_timeout_s,
            )
            if s.migrate_on_start:
                async with self.pool.acquire() as conn:
                    await migrations.apply(conn, self.migrations)
        if s.kafka_bootstrap_servers:
            self.producer = new_producer(s.kafka_bootstrap_servers, s.service_name)
            await self.producer.start()
            if self.pool is not None and s.database_url:
                self.relay = OutboxRelay(
                    pool=self.pool,
                    dsn=s.database_url,
                    schema=s.service_name,
                    producer=self.producer,
                    metrics=self.metrics,
                    batch_size=s.outbox_batch_size,
                    poll_interval_s=s.outbox_poll_interval_s,
                )
                await self.relay.start()
            await self.start_consumers()
        self.started = True

    async def start_consumers(self) -> None:
        s = self.settings
        subs = self.definition.subscriptions
        if not subs or self.pool is None or self.producer is None:
            return
        broker = KafkaBroker(
            s.kafka_bootstrap_servers or "",
            client_id=s.service_name,
            middlewares=[
                KafkaTelemetryMiddleware(),
                KafkaPrometheusMiddleware(registry=self.metrics.registry, app_name=s.service_name),
            ],
            logger=logging.getLogger(f"{s.service_name}.broker"),
            # Per-message "Received"/"Processed" lines only when debugging.
            log_level=logging.DEBUG,
            # Handlers take the message as it comes (`servicekit.consumer`).
            apply_types=False,
        )
        policy = ConsumerPolicy(
            max_attempts=s.consumer_max_attempts,
            backoff_s=s.consumer_backoff_s,
            max_records=s.consumer_max_records,
            session_timeout_ms=s.consumer_session_timeout_ms,
            heartbeat_interval_ms=s.consumer_heartbeat_interval_ms,
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            idle_fetch_max_wait_ms=s.consumer_idle_fetch_max_wait_ms,
            poll_timeout_ms=s.consumer_poll_timeout_ms,
        )
        self.consumers = []
        for sub in subs:
            consumer = IdempotentConsumer(
                name=f"{s.service_name}.{sub.topic}",
                subscription=sub,
                pool=self.pool,
                producer=self.producer,
                metrics=self.metrics,
                policy=policy,
            )
            self.consumers.append(consumer)
        group = ConsumerGroup(group_id=s.service_name, consumers=self.consumers, policy=policy)
        group.register(broker)
        await broker.connect()
        try:
            # The subscriber waits for its group's first assignment (3 s on the local broker).
            # The bound turns a group that never settles into a start-up error, not a hang.
            async with asyncio.timeout(s.consumer_start_timeout_s):
                await asyncio.gather(*(sub.start() for sub in broker.subscribers))
        except BaseException:
            await broker.stop()
            raise
        broker.running = True
        self.broker = broker

    async def stop_consumers(self) -> None:
        if self.broker is not None:
            await self.broker.stop()
            self.broker = None

    async def stop(self) -> None:
        """Stop in reverse order; one part failing to stop does not leave the others open."""
        self.started = False
        async with contextlib.AsyncExitStack() as stack:
            if self.pool is not None:
                stack.push_async_callback(self.pool.close)
            if self.producer is not None:
                stack.push_async_callback(self.producer.stop)
            if self.relay is not None:
                stack.push_async_callback(self.relay.stop)
            stack.push_async_callback(self.stop_consumers)
        self.pool, self.producer, self.relay = None, None, None


async def get_runtime(request: Request) -> Runtime:
    """Async although it never awaits: FastAPI runs a plain `def` dependency in a worker
    thread, a hop on every request (6 % of payments' CPU under load, `bench payments-api`)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


_purge_idempotency_keys = jobs.periodic(
    "idempotency-keys",
    lambda runtime: idempotency.purge_expired(runtime.require_pool()),
    lambda runtime: runtime.settings.idempotency_purge_interval_s,
)


def create_app(definition: ServiceDefinition) -> FastAPI:
    s = definition.settings
    runtime = Runtime(
        definition=definition,
        metrics=ServiceMetrics(s.service_name),
        migrations=migrations.load_migrations(
            migrations.migration_sources(definition.migrations_dir)
        ),
        verifier=IdentityVerifier(s.identity_public_key) if s.identity_public_key else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(runtime.stop)
            await runtime.start()
            # Every schema has the kit's idempotency table; every service keeps it trimmed.
            await stack.enter_async_context(_purge_idempotency_keys(runtime))
            for resource in definition.resources:
                await stack.enter_async_context(resource(runtime))
            yield

    # FastAPI's own telemetry would trace every request a second time, with spans for each
    # dependency and serialization step besides: the ASGI middleware's one span is enough.
    app = FastAPI(title=definition.title, lifespan=lifespan, telemetry=_NO_NATIVE_TELEMETRY)
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.include_router(health_router)
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in definition.public_routers:
        app.include_router(router)
    for router in definition.routers:
        # Mounted with the identity check, so no service route can forget it.
        app.include_router(router, dependencies=[Depends(require_identity)])
    for router in definition.webhook_routers:
        app.include_router(router, dependencies=[Depends(require_provider)])
    # Added first, so it runs inside the server span below and can name it.
    app.add_middleware(HttpMetricsMiddleware, metrics=runtime.metrics)
    app.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=parse_excluded_urls("livez,readyz,metrics"),
        default_span_details=server_span_details,
        # One server span per request; the ASGI receive/send child spans add nothing a
        # reader of the trace needs and cost a span each.
        exclude_spans=["receive", "send"],
    )
    if definition.customize is not None:
        definition.customize(app)
    return app
