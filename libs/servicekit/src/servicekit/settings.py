"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common settings. Subclasses set `model_config = service_config("INVOICING_")`."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = Field(description="Service name: package, schema, role and group id.")
    http_host: str = Field("127.0.0.1", description="Interface the HTTP server binds.")
    http_port: int = Field(8000, ge=0, le=65535, description="HTTP port (0 picks a free one).")
    database_url: str | None = Field(
        None, description="asyncpg DSN connecting as the service's own role; None: no database."
    )
    db_pool_min_size: int = Field(2, ge=1)
    db_pool_max_size: int = Field(8, ge=1)
    db_command_timeout_s: float = Field(10.0, gt=0)
    migrate_on_start: bool = Field(
        True, description="Apply pending migrations at start-up (under an advisory lock)."
    )
    kafka_bootstrap_servers: str | None = Field(
        None, description="Kafka bootstrap servers; None: the service runs without a broker."
    )
    identity_public_key: str | None = Field(
        None, description="PEM Ed25519 public key of the gateway, to verify identity tokens."
    )
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint; unset: spans are not exported."
    )
    trace_sample_ratio: float = Field(0.1, ge=0.0, le=1.0)
    trace_db_queries: bool = Field(
        False,
        description="A span per SQL statement. Off by default: a request runs 5-10 statements "
        "and each span costs CPU even when the trace is not sampled.",
    )
    log_level: str = Field("INFO")
    idempotency_purge_interval_s: float = Field(
        3600.0, description="How often Idempotency-Key records past 24 h are deleted; 0: never."
    )
    outbox_batch_size: int = Field(500, ge=1, le=10_000)
    outbox_poll_interval_s: float = Field(
        1.0, gt=0, description="Polling fallback when no NOTIFY arrives."
    )
    consumer_max_attempts: int = Field(
        5, ge=1, description="Attempts for a failing message before it goes to <topic>.dlq."
    )
    consumer_backoff_s: float = Field(0.2, ge=0, description="First retry delay; doubles.")
    consumer_max_records: int = Field(500, ge=1)
    consumer_session_timeout_ms: int = Field(
        10_000, ge=1_000, description="A dead consumer's partitions move after this long."
    )
    consumer_heartbeat_interval_ms: int = Field(3_000, ge=100)
    consumer_start_timeout_s: float = Field(
        60.0, gt=0, description="Longest wait for every consumer group's first assignment."
    )
    consumer_fetch_max_wait_ms: int = Field(
        20, ge=1, description="Longest wait for new records per fetch (bounds event latency)."
    )
    consumer_idle_fetch_max_wait_ms: int = Field(
        250,
        ge=0,
        le=30_000,
        description="Fetch wait after a second without records (0: always the short one); "
        "the first event after a quiet spell can wait this long.",
    )
    consumer_poll_timeout_ms: int = Field(
        200,
        ge=1,
        le=60_000,
        description="How long a poll of fetched records waits; records end it at once.",
    )


def service_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", env_file=None)
