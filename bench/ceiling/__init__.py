"""The payment path's parts with nothing but the libraries under them, for `bench
payments-ceiling`: a proxy, a payments server with its relay, and an invoicing consumer, each
its own process, doing the durable work a payment needs (the idempotency row, the payment,
the receivable, the outbox row, its publish, the inbox row, the invoice paid) in one
statement each, with no validation, tenancy, identity, telemetry or framework. What the
platform costs beyond these is its own; what these cost is the floor on this machine."""

from __future__ import annotations

import gc
import os
from typing import Any

import uvicorn

from servicekit.cli import GC_YOUNG_THRESHOLD

SCHEMA = "ceiling"
TOPIC = "payment-received"
NOTIFY_CHANNEL = "ceiling_outbox"

Scope = dict[str, Any]


def env(name: str) -> str:
    return os.environ[f"CEILING_{name}"]


def frameworks() -> bool:
    """`CEILING_FRAMEWORKS=1`: the parts built on FastAPI and FastStream as the services are
    (with none of the services' own middleware, telemetry or checks)."""
    return os.environ.get("CEILING_FRAMEWORKS") == "1"


def serve(app: Any) -> None:
    """Served as the services are (`servicekit.cli`): uvloop, httptools, the same GC."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(env("PORT")),
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )


class App:
    """A bare ASGI app: `start` and `stop` around the server's life, `handle` per request."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
            return
        while True:  # lifespan
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def read_body(receive: Any) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def respond(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
