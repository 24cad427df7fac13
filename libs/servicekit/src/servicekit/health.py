"""/livez and /readyz: ready means database and broker reachable and migrations applied."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from servicekit import migrations
from servicekit.problems import problem_response

if TYPE_CHECKING:
    from servicekit.service import Runtime

router = APIRouter(include_in_schema=False)
_CHECK_TIMEOUT_S = 2.0


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    checks = await readiness(runtime)
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    failing = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return problem_response(503, "Not ready", failing, slug="not-ready", checks=checks)


async def readiness(runtime: Runtime) -> dict[str, str]:
    checks: dict[str, str] = {}
    if not runtime.started:
        checks["startup"] = "starting"
    if runtime.pool is not None:
        checks["database"] = await _check(_database(runtime))
        if checks["database"] == "ok":
            checks["migrations"] = await _check(_migrations(runtime))
    if runtime.producer is not None:
        checks["broker"] = await _check(_broker(runtime))
        if runtime.started and runtime.definition.subscriptions:
            checks["consumers"] = _consumers(runtime)
    return checks


async def _check(probe: Any) -> str:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT_S):  # wait_for can lose a cancellation
            await probe
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return "ok"


async def _database(runtime: Runtime) -> None:
    assert runtime.pool is not None
    await runtime.pool.fetchval("SELECT 1")


async def _migrations(runtime: Runtime) -> None:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        todo = await migrations.pending(conn, runtime.migrations)
    if todo:
        raise RuntimeError(f"{len(todo)} migration(s) pending")


async def _broker(runtime: Runtime) -> None:
    assert runtime.producer is not None
    await runtime.producer.client.fetch_all_metadata()


def _consumers(runtime: Runtime) -> str:
    """ "ok" while every consumer group's coordinator runs. aiokafka ends it on an error it
    cannot recover from (a rejected SyncGroup, say), and the consumer then fetches nothing
    more without failing: only this check tells."""
    if runtime.broker is None:
        return "stopped"
    stopped = sorted(
        str(getattr(sub, "group_id", "?"))
        for sub in runtime.broker.subscribers
        if not _coordinating(sub)
    )
    return f"stopped: {', '.join(stopped)}" if stopped else "ok"


def _coordinating(subscriber: Any) -> bool:
    # aiokafka keeps the task private; pinned by uv.lock and covered by the kit's tests.
    consumer = getattr(subscriber, "consumer", None)
    task = getattr(getattr(consumer, "_coordinator", None), "_coordination_task", None)
    return isinstance(task, asyncio.Task) and not task.done()
