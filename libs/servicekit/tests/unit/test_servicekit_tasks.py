"""`cancel_and_wait`: the task's own cancellation is its end; the caller's goes on."""

from __future__ import annotations

import asyncio

import pytest

from servicekit.tasks import cancel_and_wait


async def test_a_cancelled_task_has_ended_when_it_returns() -> None:
    task = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled()


async def test_the_callers_timeout_is_not_swallowed_while_the_task_lingers() -> None:
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await release.wait()  # cleanup that takes its time

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await cancel_and_wait(task)
    release.set()
    await asyncio.gather(task, return_exceptions=True)
