"""Background tasks ended without losing a cancellation, on Python 3.11's asyncio."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended. Its own cancellation is the expected end
    and is swallowed; the caller's (a shutdown timeout, say) goes on. `contextlib.suppress`
    around the await swallowed both: a stop bounded by a timeout then returned at the
    timeout as if it had stopped, with the task still running."""
    current = asyncio.current_task()
    before = 0 if current is None else current.cancelling()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > before:
            raise
        return
    if current is not None and current.cancelling() > before:
        # Cancelled meanwhile, by a task that ended without passing it on.
        raise asyncio.CancelledError
