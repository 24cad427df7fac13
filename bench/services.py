"""Timecapture, invoicing, payments and the gateway as their own processes on free ports, plus the
seeding of a tenant's catalogue through the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from bench.event_latency import free_port
from servicekit.localinfra.catalog import by_name, repo_root
from servicekit.localinfra.stack import Credentials, service_env
from servicekit.sealing import new_key
from servicekit.testing import Infra

DEV_KEY = "bsk_bench_" + uuid.uuid4().hex


@dataclass(frozen=True)
class Platform:
    gateway: str
    tenant_id: uuid.UUID
    auth: dict[str, str]
    urls: dict[str, str]


@dataclass(frozen=True)
class Catalog:
    member_ids: list[str]
    project_ids: list[str]
    emails: list[str]
    codes: list[str]


@contextlib.asynccontextmanager
async def platform(
    infra: Infra, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Platform]:
    tenant = uuid.uuid4()
    creds = Credentials(
        DEV_KEY, str(tenant), "unused", infra.private_key, infra.public_key, new_key()
    )
    ports = {name: free_port() for name in ("timecapture", "invoicing", "payments", "gateway")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, port in ports.items():
            svc = by_name(name)
            env = {
                **os.environ,
                **service_env(
                    svc,
                    cluster=infra.cluster,
                    database=infra.database,
                    kafka=infra.kafka.bootstrap_servers,
                    creds=creds,
                ),
                f"{svc.env_prefix}HTTP_PORT": str(port),
                f"{svc.env_prefix}LOG_LEVEL": "WARNING",
                # The load comes from one key: measured is the platform, not the limiter.
                "GATEWAY_RATE_LIMIT_KEY_PER_S": "0",
                "GATEWAY_RATE_LIMIT_TENANT_PER_S": "0",
                **(extra_env or {}),
            }
            if name == "gateway":
                for backend in ("timecapture", "invoicing", "payments"):
                    env[f"GATEWAY_{backend.upper()}_URL"] = f"http://127.0.0.1:{ports[backend]}"
            procs.append(
                # Popen returns at once; the wait for readiness is async below.
                subprocess.Popen(  # noqa: ASYNC220
                    [sys.executable, "-m", name], env=env, stderr=log_to(name)
                )
            )
        await _ready(ports)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        yield Platform(urls["gateway"], tenant, {"Authorization": f"Bearer {DEV_KEY}"}, urls)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def log_to(name: str) -> int:
    """Each service's stderr goes to `.local/bench-<name>.log`, for post-mortems."""
    path = repo_root() / ".local" / f"bench-{name}.log"
    path.parent.mkdir(exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


async def _ready(ports: dict[str, int]) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(600):
            try:
                codes = [
                    (await http.get(f"http://127.0.0.1:{p}/readyz")).status_code
                    for p in ports.values()
                ]
                if all(c == 200 for c in codes):
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("services not ready after 60 s")


async def seed(p: Platform, *, members: int, projects: int) -> Catalog:
    """Clients, projects (with codes) and members, created through the gateway."""
    async with httpx.AsyncClient(base_url=p.gateway, headers=p.auth, timeout=30) as http:

        async def post(path: str, body: dict[str, object]) -> str:
            r = await http.post(path, json=body)
            r.raise_for_status()
            return str(r.json()["id"])

        client = await post("/v1/clients", {"name": f"Bench {p.tenant_id}", "currency": "EUR"})
        codes = [f"P{i:04d}" for i in range(projects)]
        project_ids = [
            await post("/v1/projects", {"client_id": client, "name": code, "code": code})
            for code in codes
        ]
        emails = [f"m{i}@bench.example" for i in range(members)]
        member_ids = [
            await post(
                "/v1/members",
                {"name": e, "email": e, "cost_rate_minor": 5000, "cost_currency": "EUR"},
            )
            for e in emails
        ]
    return Catalog(member_ids, project_ids, emails, codes)


async def ledger_count(infra: Infra, tenant: uuid.UUID) -> int:
    rows = await infra.fetch_as_tenant(
        "invoicing", tenant, "SELECT count(*) AS n FROM ledger_entries"
    )
    return int(rows[0]["n"])
