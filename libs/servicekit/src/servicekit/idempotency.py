"""`Idempotency-Key` on HTTP writes (money movements above all).

The key is claimed in the same transaction as the business write, and the response stored
there too: the first request runs; a concurrent one with the same key waits on the key's
unique index and then replays the stored response (`Idempotent-Replayed: true`); a retry after
the first committed replays it; the same key with another body (or route) is 422 and writes
nothing. A request that failed wrote nothing and stored nothing, so its retry runs again.
Keys are kept at least `RETENTION` (`purge_expired` removes older ones).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import Header, Request
from starlette.responses import Response

from servicekit.db import Connection, Pool, in_tenant_transaction
from servicekit.problems import ServiceError

T = TypeVar("T")

RETENTION = timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key and body replay the first response (24 h).",
    ),
]


class IdempotencyKeyReused(ServiceError):
    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency-Key used with another request"


@dataclass(frozen=True, slots=True)
class Stored:
    """A response as stored, and as replayed."""

    status_code: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self, *, replayed: bool) -> Response:
        headers = dict(self.headers)
        if replayed:
            headers[REPLAYED_HEADER] = "true"
        return Response(
            self.body, status_code=self.status_code, headers=headers, media_type="application/json"
        )


def stored_json(status_code: int, payload: Any, headers: Mapping[str, str] | None = None) -> Stored:
    return Stored(status_code, json.dumps(payload, separators=(",", ":")).encode(), headers or {})


async def fingerprint(request: Request) -> str:
    """Method, route and body: what must be the same for a key to be replayed."""
    body = await request.body()
    digest = hashlib.sha256(body).hexdigest()
    return f"{request.method} {request.url.path} {digest}"


_CLAIM = """
INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status_code, body, headers)
VALUES ($1, $2, $3, 0, '', '{}') ON CONFLICT (tenant_id, key) DO NOTHING RETURNING true
"""
# The tenant is named although RLS adds it: with the purge job's cross-tenant policy beside
# tenant isolation, RLS alone gives an OR that no index serves (every request scanned every
# key; decision 34).
REPLAY = """
SELECT fingerprint, status_code, body, headers FROM idempotency_keys
WHERE tenant_id = $1 AND key = $2
"""
STORE = """
UPDATE idempotency_keys SET status_code = $3, body = $4, headers = $5
WHERE tenant_id = $1 AND key = $2
"""


async def respond(
    pool: Pool,
    tenant_id: UUID,
    *,
    key: str | None,
    request_fingerprint: str,
    work: Callable[[Connection], Awaitable[T]],
    render: Callable[[T], Stored],
) -> Response:
    """Run `work` and answer `render(result)`, once per key: see the module docstring."""

    async def attempt(conn: Connection) -> tuple[Stored, bool]:
        if key is not None and not await conn.fetchval(_CLAIM, tenant_id, key, request_fingerprint):
            row = await conn.fetchrow(REPLAY, tenant_id, key)
            assert row is not None
            if row["fingerprint"] != request_fingerprint:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used with another request; use a new key",
                    errors=[{"parameter": "Idempotency-Key", "in": "header", "detail": "reused"}],
                )
            return Stored(row["status_code"], bytes(row["body"]), json.loads(row["headers"])), True
        stored = render(await work(conn))
        if key is not None:
            await conn.execute(
                STORE,
                tenant_id,
                key,
                stored.status_code,
                stored.body,
                json.dumps(dict(stored.headers)),
            )
        return stored, False

    stored, replayed = await in_tenant_transaction(pool, tenant_id, attempt)
    return stored.response(replayed=replayed)


async def purge_expired(pool: Pool) -> int:
    """Delete keys older than `RETENTION`, across tenants (through the `job_scan` policies)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('billstream.job_scan', 'on', true)")
        done = await conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < clock_timestamp() - $1::interval",
            RETENTION,
        )
    return int(done.split()[-1])
