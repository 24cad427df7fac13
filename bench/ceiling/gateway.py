"""The gateway's forwarding alone: the body and the Idempotency-Key to payments over pooled
aiohttp connections (as `gateway.upstream`), the answer back; no key lookup, no identity."""

from __future__ import annotations

from typing import Any

import aiohttp

from bench.ceiling import App, Scope, env, read_body, respond, serve

_FORWARDED = (b"idempotency-key", b"content-type")


class Proxy(App):
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit_per_host=100),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        assert self._session is not None
        body = await read_body(receive)
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in _FORWARDED}
        async with self._session.post(
            self._upstream + scope["path"], data=body, headers=headers
        ) as answer:
            data = await answer.read()
        await respond(send, answer.status, data)


if __name__ == "__main__":
    serve(Proxy(env("PAYMENTS_URL")))
