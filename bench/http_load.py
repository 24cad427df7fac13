"""A minimal keep-alive HTTP/1.1 client for load generation.

httpx spends ~0.3 ms of CPU per request, which on a 2-core machine starves the services under
test; this client spends a few tens of microseconds, so the figures measure Billstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(
        self, method: str, path: str, headers: bytes, body: bytes = b""
    ) -> tuple[int, bytes]:
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n".encode()
            + headers
            + b"\r\n"
            + body
        )
        status_line = await self.reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        chunked = False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts = []
        while (size := int((await self.reader.readline()).strip(), 16)) > 0:
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()
        await self.reader.readline()
        return status, b"".join(parts)

    def close(self) -> None:
        self.writer.close()


class Pool:
    """`size` persistent connections; a request waits for a free one (that wait is latency)."""

    def __init__(self, base_url: str, size: int, headers: Mapping[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.size = size
        self.headers = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
        self.free: asyncio.Queue[Connection] = asyncio.Queue()

    async def start(self) -> None:
        for _ in range(self.size):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.free.put_nowait(Connection(reader, writer))

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        conn = await self.free.get()
        try:
            extra = f"Content-Type: {content_type}\r\n".encode() + b"".join(
                f"{k}: {v}\r\n".encode() for k, v in (headers or {}).items()
            )
            return await conn.request(method, path, self.headers + extra, body)
        except BaseException:
            conn.close()
            reader, writer = await asyncio.open_connection(self.host, self.port)
            conn = Connection(reader, writer)
            raise
        finally:
            self.free.put_nowait(conn)

    async def close(self) -> None:
        while not self.free.empty():
            self.free.get_nowait().close()
