"""`cancel_and_wait`: the task's own cancellation is its end; the caller's goes on."""

from __future__ import annotations

import asyncio
import contextlib

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


async def test_the_callers_cancellation_is_kept_when_the_task_swallows_it() -> None:
    async def stubborn() -> None:
        for _ in range(2):  # its own cancellation, then the one passed on from the caller
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(60)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await cancel_and_wait(task)
    assert task.done()


async def test_a_caller_cancelled_before_it_stops_a_task_is_not_cancelled_again() -> None:
    async def caller() -> str:
        me = asyncio.current_task()
        assert me is not None
        me.cancel()
        # Handled here, without uncancel(): cancelling() stays 1.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(1)
        task = asyncio.create_task(asyncio.sleep(60))
        await asyncio.sleep(0)
        await cancel_and_wait(task)
        return "stopped"

    assert await asyncio.create_task(caller()) == "stopped"
