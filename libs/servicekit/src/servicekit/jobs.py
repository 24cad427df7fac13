"""Scheduled work inside a service: a job run every interval for as long as the app lives.

Jobs must be safe to run twice and on several replicas at once (each one re-checks the state
it changes under a row lock); the schedule only decides how soon work is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from servicekit.tasks import cancel_and_wait

if TYPE_CHECKING:
    from servicekit.service import Runtime

log = logging.getLogger(__name__)

Job = Callable[["Runtime"], Awaitable[object]]


def periodic(
    name: str, job: Job, interval_s: Callable[[Runtime], float]
) -> Callable[[Runtime], contextlib.AbstractAsyncContextManager[None]]:
    """A `ServiceDefinition.resources` entry running `job` now and then every interval.

    An interval of 0 or less disables the job (tests call jobs directly with their clock).
    """

    @contextlib.asynccontextmanager
    async def resource(runtime: Runtime) -> AsyncIterator[None]:
        every = interval_s(runtime)
        if every <= 0 or runtime.pool is None:
            yield
            return

        async def loop() -> None:
            while True:
                try:
                    await job(runtime)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The next run retries; the work is idempotent.
                    log.exception("job failed", extra={"job": name})
                await asyncio.sleep(every)

        task = asyncio.create_task(loop(), name=f"job:{name}")
        try:
            yield
        finally:
            await cancel_and_wait(task)

    return resource
