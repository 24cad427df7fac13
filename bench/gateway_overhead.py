"""Gateway overhead (PERFORMANCE.md target: p99 <= 5 ms at 50 concurrent clients).

One read (`GET /v1/clients/{id}`) through the gateway and the same read straight at
timecapture (with an identity token signed as the gateway would), in one run, alternating
rounds so drift hits both alike, over 50 connections. Two loads: closed loop (each client
sends its next request when the last one answers: the saturated rate), then open loop at
`BENCH_RATE` requests/s, latency from each request's scheduled start. The overhead is the
difference of the two paths' percentiles; at saturation it is mostly queueing, so the
open-loop figure is the one to hold against the 5 ms target.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.cpu import cpu_seconds
from bench.http_load import Pool
from bench.services import Platform, platform
from bench.stats import open_loop, percentile, summary_ms
from servicekit.identity import IDENTITY_HEADER, Identity, IdentitySigner
from servicekit.testing import Infra, local_infra

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "50"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "4000"))  # per round and path
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PORT = int(os.environ.get("BENCH_PG_PORT", "55434"))
RATE = float(os.environ.get("BENCH_RATE", "300"))


async def closed_loop(pool: Pool, path: str, count: int) -> tuple[float, list[float]]:
    """`pool.size` clients sharing `count` requests; returns (requests/s, latencies)."""
    latencies: list[float] = []
    left = count

    async def client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            began = time.perf_counter()
            status, body = await pool.request("GET", path)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
            latencies.append(time.perf_counter() - began)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(pool.size)))
    return count / (time.perf_counter() - t0), latencies


async def fixed_rate(pool: Pool, path: str, count: int) -> tuple[float, list[float]]:
    """`count` requests started at RATE whatever the latency; returns (rate, latencies)."""
    latencies: list[float] = []
    t0 = time.perf_counter()

    async def one(i: int) -> None:
        scheduled = t0 + i / RATE
        status, body = await pool.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
        latencies.append(time.perf_counter() - scheduled)

    rate = await open_loop(RATE, count, one, max_in_flight=pool.size)
    return rate, latencies


async def run(infra: Infra) -> None:
    async with platform(infra) as p:
        async with httpx.AsyncClient(base_url=p.gateway, headers=p.auth, timeout=30) as http:
            r = await http.post("/v1/clients", json={"name": "Overhead", "currency": "EUR"})
            r.raise_for_status()
            path = f"/v1/clients/{r.json()['id']}"
        signer = IdentitySigner(infra.private_key)
        for load, drive in (("closed loop", closed_loop), (f"open loop {RATE:.0f}/s", fixed_rate)):
            results, cpu = await compare(infra, p, signer, path, drive)
            report(load, results, cpu)


Drive = Callable[[Pool, str, int], Awaitable[tuple[float, list[float]]]]


async def compare(
    infra: Infra, p: Platform, signer: IdentitySigner, path: str, drive: Drive
) -> tuple[dict[str, tuple[list[float], list[float]]], dict[str, dict[str, float]]]:
    results: dict[str, tuple[list[float], list[float]]] = {"gateway": ([], []), "direct": ([], [])}
    cpu: dict[str, dict[str, float]] = {"gateway": {}, "direct": {}}
    for round_ in range(ROUNDS + 1):  # round 0 warms both paths up
        for name in ("direct", "gateway"):
            if name == "gateway":
                pool = Pool(p.gateway, CLIENTS, p.auth)
            else:
                # A fresh token each round: tokens live 60 s, as the gateway's do.
                token = signer.sign(Identity(p.tenant_id, "bench", "admin"))
                pool = Pool(p.urls["timecapture"], CLIENTS, {IDENTITY_HEADER: token})
            await pool.start()
            before = cpu_seconds(infra)
            try:
                rate, latencies = await drive(pool, path, REQUESTS)
            finally:
                await pool.close()
            if round_ > 0:
                results[name][0].append(rate)
                results[name][1].extend(latencies)
                for proc, used in cpu_seconds(infra).items():
                    spent = used - before.get(proc, 0.0)
                    cpu[name][proc] = cpu[name].get(proc, 0.0) + spent
    return results, cpu


def report(
    load: str,
    results: dict[str, tuple[list[float], list[float]]],
    cpu: dict[str, dict[str, float]],
) -> None:
    print(f"-- {load}, {CLIENTS} connections")
    for name, (rates, latencies) in results.items():
        mean_rate = sum(rates) / len(rates)
        print(f"{name:8s} {mean_rate:6.0f} req/s, {summary_ms(latencies)}")
        per_request = {
            proc: used / (REQUESTS * ROUNDS) * 1e6 for proc, used in sorted(cpu[name].items())
        }
        print("  cpu per request: " + ", ".join(f"{k} {v:.0f} us" for k, v in per_request.items()))
    direct, through = results["direct"][1], results["gateway"][1]
    for q in (50, 99):
        extra = (percentile(through, q) - percentile(direct, q)) * 1000
        print(f"gateway overhead p{q}: {extra:.1f} ms")
    ratio = (sum(results["gateway"][0]) / sum(results["direct"][0])) if results["direct"][0] else 0
    print(f"ratio gateway/direct throughput: {ratio:.2f}")


def main() -> None:
    logging.disable(logging.WARNING)
    with local_infra(PORT, "billstream_bench") as infra:
        asyncio.run(run(infra))
