"""The gateway's forwarding alone: the body and the Idempotency-Key to payments over pooled
aiohttp connections (as `gateway.upstream`), the answer back; no key lookup, no identity."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from fastapi import FastAPI, Request, Response

from bench.ceiling import App, Scope, env, frameworks, read_body, respond, serve

_FORWARDED = (b"idempotency-key", b"content-type")


class Proxy(App):
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit_per_host=100),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        assert self.session is not None
        body = await read_body(receive)
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in _FORWARDED}
        async with self.session.post(
            self.upstream + scope["path"], data=body, headers=headers
        ) as answer:
            data = await answer.read()
        await respond(send, answer.status, data)


def with_fastapi(proxy: Proxy) -> FastAPI:
    """The same forwarding as a FastAPI catch-all route, as the gateway's proxy is."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await proxy.start()
        yield
        await proxy.stop()

    app = FastAPI(lifespan=lifespan)

    @app.api_route("/{path:path}", methods=["POST"])
    async def forward(path: str, request: Request) -> Response:
        assert proxy.session is not None
        headers = {k: v for k, v in request.headers.items() if k.encode() in _FORWARDED}
        async with proxy.session.post(
            proxy.upstream + "/" + path, data=await request.body(), headers=headers
        ) as answer:
            data = await answer.read()
        return Response(data, status_code=answer.status, media_type="application/json")

    return app


if __name__ == "__main__":
    part = Proxy(env("PAYMENTS_URL"))
    serve(with_fastapi(part) if frameworks() else part)
