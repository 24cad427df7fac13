"""Every `/v1/...` route: authenticate, then forward to the owning service."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.domain.auth import api_key_from
from gateway.domain.routing import owner_of, webhook_provider
from gateway.handlers.forwarding import RouteNotFound, forward
from gateway.handlers.keys import authenticate
from gateway.handlers.limits import admit
from gateway.handlers.webhooks import provider_identity
from gateway.upstream import Upstreams

router = APIRouter()
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@router.api_route("/v1/{path:path}", methods=METHODS, include_in_schema=False)
async def proxy(request: Request, path: str) -> Response:
    up: Upstreams = request.app.state.runtime.state["upstreams"]
    request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
    runtime = request.app.state.runtime
    provider = webhook_provider(request.method, request.url.path)
    if provider is not None:
        identity = await provider_identity(runtime, provider, request.query_params.get("tenant_id"))
    else:
        identity = await authenticate(
            runtime,
            api_key_from(request.headers.get("authorization"), request.headers.get("x-api-key")),
        )
    admit(runtime, identity)
    service = owner_of(request.url.path)
    if service is None:
        raise RouteNotFound(f"no service serves {request.url.path}")
    return await forward(request, service, identity, request_id, up)
