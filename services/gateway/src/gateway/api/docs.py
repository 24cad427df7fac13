"""`/openapi.json`: the whole API's document (the gateway's routes and every service's)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from gateway.handlers.openapi import aggregated

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(await aggregated(request.app.state.runtime, request.app))
