"""Forwarding one authenticated request to the service that owns its path."""

from __future__ import annotations

import aiohttp
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from starlette.requests import Request
from starlette.responses import Response
from yarl import URL

from gateway.upstream import Upstreams
from servicekit.identity import IDENTITY_HEADER, Identity
from servicekit.problems import ServiceError

_tracer = trace.get_tracer("gateway.upstream")

# Headers a caller may pass on to a service; everything else (notably Authorization) stays here.
FORWARDED_REQUEST_HEADERS = (
    "accept",
    "content-type",
    "idempotency-key",
    "if-match",
    "if-none-match",
    # A provider's signature over the body: only the service holding the secret can check it.
    "stripe-signature",
    "x-request-id",
)
RETURNED_RESPONSE_HEADERS = (
    "content-type",
    "content-disposition",
    "etag",
    "location",
    "link",
    "retry-after",
    "idempotent-replayed",
)


class GatewayError(ServiceError):
    """Base of the gateway's errors."""


class RouteNotFound(GatewayError):
    status = 404
    slug = "route-not-found"
    title = "No such route"


class UpstreamUnavailable(GatewayError):
    status = 502
    slug = "upstream-unavailable"
    title = "Service unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    slug = "upstream-timeout"
    title = "Service timed out"


class PayloadTooLarge(GatewayError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed `limit` (never buffered past it)."""
    too_large = PayloadTooLarge(f"bodies are limited to {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def forward(
    request: Request, service: str, identity: Identity, request_id: str, up: Upstreams
) -> Response:
    body = await read_body(request, up.settings.max_body_bytes)
    headers = {h: v for h in FORWARDED_REQUEST_HEADERS if (v := request.headers.get(h))}
    headers["x-request-id"] = request_id
    headers[IDENTITY_HEADER] = up.signer.sign(identity)
    # The path as the caller encoded it: it was routed in that form, and a client that
    # re-encodes or normalises it could send it somewhere else.
    url = up.settings.upstream_url(service) + request.scope.get("raw_path", b"").decode("latin-1")
    if request.url.query:
        url += "?" + request.url.query
    method = request.method
    with _tracer.start_as_current_span(f"{method}", kind=SpanKind.CLIENT) as span:
        span.set_attribute("http.request.method", method)
        span.set_attribute("server.address", service)
        # `traceparent` of this client span: the service continues the caller's trace.
        propagate.inject(headers)
        try:
            async with up.session.request(
                method, URL(url, encoded=True), data=body, headers=headers
            ) as upstream:
                content = await upstream.read()
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{service} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"{service} is unreachable") from exc
        span.set_attribute("http.response.status_code", upstream.status)
    out = {h: v for h in RETURNED_RESPONSE_HEADERS if (v := upstream.headers.get(h))}
    out["x-request-id"] = request_id
    return Response(content, status_code=upstream.status, headers=out)
