"""`Idempotency-Key` on HTTP writes (money movements above all).

The key and the response are stored by one statement at the end of the business write's
transaction, so a first request costs one round trip for its key, not a claim and a store.
A request whose key is stored already (a retry, or a concurrent twin that committed while
this one ran: the insert waits on the key's unique index until the twin ends) rolls its own
write back and replays the stored response (`Idempotent-Replayed: true`); with another body
(or route) it is 422. A request the service refused (`ServiceError`) looks for its key too,
so a retry refused only because the first one's write is in place (the invoice is paid
now) still replays.
A failed request wrote nothing and stored nothing, so its retry runs again. `work` must
therefore touch nothing outside its transaction: it may run and be rolled back. Keys are
kept at least `RETENTION` (`purge_expired` removes older ones).
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


# The tenant is named although RLS adds it: with the purge job's cross-tenant policy beside
# tenant isolation, RLS alone gives an OR that no index serves (every request scanned every
# key; decision 34).
STORE = """
INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status_code, body, headers)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, key) DO NOTHING RETURNING true
"""
REPLAY = """
SELECT fingerprint, status_code, body, headers FROM idempotency_keys
WHERE tenant_id = $1 AND key = $2
"""


class _KeyStored(Exception):
    """The key was stored by another request meanwhile: this one's write is rolled back."""


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

    async def attempt(conn: Connection) -> Stored:
        stored = render(await work(conn))
        if key is not None:
            headers = json.dumps(dict(stored.headers))
            args = (stored.status_code, stored.body, headers)
            if not await conn.fetchval(STORE, tenant_id, key, request_fingerprint, *args):
                raise _KeyStored
        return stored

    if key is None:
        return (await in_tenant_transaction(pool, tenant_id, attempt)).response(replayed=False)
    try:
        stored = await in_tenant_transaction(pool, tenant_id, attempt)
    except _KeyStored:
        return await _replay(pool, tenant_id, key, request_fingerprint, None)
    except ServiceError as refused:
        # Only refusals: a database that is down fails the lookup too, later.
        return await _replay(pool, tenant_id, key, request_fingerprint, refused)
    return stored.response(replayed=False)


async def _replay(
    pool: Pool, tenant_id: UUID, key: str, request_fingerprint: str, failure: Exception | None
) -> Response:
    """The stored response of `key`; `failure` is raised again when there is none."""

    async def lookup(conn: Connection) -> Any:
        return await conn.fetchrow(REPLAY, tenant_id, key)

    try:
        row = await in_tenant_transaction(pool, tenant_id, lookup)
    except Exception:
        if failure is None:
            raise
        raise failure from None  # the refusal is the answer, not the failed lookup
    if row is None:
        if failure is None:  # stored, then gone: only a purge between two statements
            raise RuntimeError(f"Idempotency-Key {key!r} vanished while being replayed")
        raise failure
    if row["fingerprint"] != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with another request; use a new key",
            errors=[{"parameter": "Idempotency-Key", "in": "header", "detail": "reused"}],
        )
    stored = Stored(row["status_code"], bytes(row["body"]), json.loads(row["headers"]))
    return stored.response(replayed=True)


async def purge_expired(pool: Pool) -> int:
    """Delete keys older than `RETENTION`, across tenants (through the `job_scan` policies)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('billstream.job_scan', 'on', true)")
        done = await conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < clock_timestamp() - $1::interval",
            RETENTION,
        )
    return int(done.split()[-1])
