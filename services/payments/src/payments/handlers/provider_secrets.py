"""The key that seals providers' webhook secrets, and sealing what is still in clear.

At start, every secret stored in clear (set before sealing existed) or sealed by a key that
is no longer the first of `PAYMENTS_SECRET_KEYS` is sealed again by the current key. A roll
therefore takes three deployments (decision 41): the new key listed second everywhere (it
opens, seals nothing), then first (replicas seal under it), then the old key dropped once no
row names it. Listing it first at once would let a replica still on the old list find
secrets it cannot open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from payments.db import providers as rows
from payments.domain.providers import SecretKeysNotConfigured, SecretUnreadable
from payments.settings import PaymentsSettings
from servicekit.db import RETRYABLE_DB_ERRORS, Pool, tenant_transaction
from servicekit.sealing import Sealer
from servicekit.service import Runtime
from servicekit.tasks import cancel_and_wait

log = logging.getLogger(__name__)
_STATE = "sealer"


def sealer_of(runtime: Runtime) -> Sealer:
    sealer: Sealer | None = runtime.state.get(_STATE)
    if sealer is None:
        raise SecretKeysNotConfigured(
            "set PAYMENTS_SECRET_KEYS to store or use a provider's webhook secret"
        )
    return sealer


@contextlib.asynccontextmanager
async def sealing(runtime: Runtime) -> AsyncIterator[None]:
    """A `ServiceDefinition.resources` entry: the sealer from settings (a bad setting stops
    the start), then, in the background, the secrets sealed again where needed. Meanwhile
    they open as they are (in clear, or by a key still listed), so the service serves at once
    however many tenants there are."""
    settings = runtime.settings
    assert isinstance(settings, PaymentsSettings)
    resealing: asyncio.Task[None] | None = None
    if settings.secret_keys is not None:
        sealer = Sealer.from_setting(settings.secret_keys.get_secret_value())
        runtime.state[_STATE] = sealer
        if runtime.pool is not None:
            resealing = asyncio.create_task(reseal_until_done(runtime.pool, sealer), name="reseal")
    else:
        log.warning("PAYMENTS_SECRET_KEYS is unset: Stripe settings and webhooks answer 503")
    try:
        yield
    finally:
        if resealing is not None:
            await cancel_and_wait(resealing)


async def reseal_until_done(
    pool: Pool, sealer: Sealer, *, first_delay_s: float = 5.0, max_delay_s: float = 300.0
) -> None:
    """`reseal_all` again after a failure (the database away, a statement timed out), later
    each time: stopping would leave secrets in clear, or under a key about to be dropped,
    until the next start. Each tenant commits on its own, so a retry goes on from there."""
    delay = first_delay_s
    while True:
        try:
            await reseal_all(pool, sealer)
        except Exception:
            log.exception("provider secrets not all sealed again; retrying in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
        else:
            return


async def reseal_all(pool: Pool, sealer: Sealer) -> int:
    """How many tenants' secrets were sealed again; one that does not open is left as it is
    (its deliveries answer 503 `secret-unreadable` until its key is listed or it is set)."""
    async with pool.acquire() as scan, scan.transaction():
        tenants = await rows.tenants_to_reseal(scan, sealer)
    done, failed = 0, 0
    for tenant_id in tenants:
        try:
            async with tenant_transaction(pool, tenant_id) as conn:
                done += await rows.reseal(conn, sealer)
        except SecretUnreadable as exc:
            log.error(
                "provider secret not resealed", extra={"tenant": str(tenant_id), "why": exc.detail}
            )
        except RETRYABLE_DB_ERRORS:
            raise  # the database is away: every tenant after this one would fail the same way
        except Exception:
            # The next tenants still get theirs; the pass fails at the end, to be tried again.
            log.exception("provider secret not resealed", extra={"tenant": str(tenant_id)})
            failed += 1
    if done:
        log.info("provider secrets sealed by the current key", extra={"count": done})
    if failed:
        raise ResealIncomplete(f"{failed} of {len(tenants)} tenants' secrets not sealed again")
    return done


class ResealIncomplete(Exception):
    pass
