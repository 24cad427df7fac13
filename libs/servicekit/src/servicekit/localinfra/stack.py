"""`make run`: Postgres, a broker, roles, schemas, topics, every service and the gateway.

Ctrl-C (or SIGTERM) stops the services, the broker and Postgres, leaving no process.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from servicekit.identity import generate_keypair
from servicekit.localinfra.bootstrap import bootstrap_database
from servicekit.localinfra.catalog import (
    BACKENDS,
    DATABASE,
    GATEWAY,
    POSTGRES_PORT,
    SERVICES,
    ServiceEntry,
    repo_root,
)
from servicekit.localinfra.kafka import KafkaHandle, start_kafka
from servicekit.localinfra.postgres import PostgresCluster
from servicekit.sealing import new_key

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Credentials:
    """Local credentials, kept under .local/ so a restart prints the same dev key."""

    dev_api_key: str
    dev_tenant_id: str
    operator_key: str
    identity_private_key: str
    identity_public_key: str
    # Seals payments' provider secrets; empty in files written before it existed.
    payments_secret_key: str = ""

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        if path.exists():
            creds = cls(**json.loads(path.read_text()))
            if creds.payments_secret_key:
                return creds
            creds = dataclasses.replace(creds, payments_secret_key=new_key())
        else:
            private, public = generate_keypair()
            creds = cls(
                dev_api_key="bsk_dev_" + secrets.token_urlsafe(24),
                dev_tenant_id=str(uuid.uuid4()),
                operator_key="bso_" + secrets.token_urlsafe(24),
                identity_private_key=private,
                identity_public_key=public,
                payments_secret_key=new_key(),
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole or not at all, and never readable by others: it holds the sealing key
        # of every stored webhook secret.
        staged = path.with_suffix(".tmp")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(creds.__dict__))
        os.replace(staged, path)
        return creds


def service_env(
    svc: ServiceEntry,
    *,
    cluster: PostgresCluster,
    database: str,
    kafka: str,
    creds: Credentials,
) -> dict[str, str]:
    p = svc.env_prefix
    env = {f"{p}HTTP_PORT": str(svc.port), f"{p}HTTP_HOST": "127.0.0.1"}
    if svc.database:
        env[f"{p}DATABASE_URL"] = cluster.dsn(svc.name, svc.password(), database)
    if svc.kafka:
        env[f"{p}KAFKA_BOOTSTRAP_SERVERS"] = kafka
    if svc is GATEWAY:
        env[f"{p}IDENTITY_PRIVATE_KEY"] = creds.identity_private_key
        env[f"{p}DEV_API_KEY"] = creds.dev_api_key
        env[f"{p}DEV_TENANT_ID"] = creds.dev_tenant_id
        env[f"{p}OPERATOR_KEY"] = os.environ.get("BILLSTREAM_OPERATOR_KEY", creds.operator_key)
        for backend in BACKENDS:
            env[f"{p}{backend.name.upper()}_URL"] = f"http://127.0.0.1:{backend.port}"
    else:
        env[f"{p}IDENTITY_PUBLIC_KEY"] = creds.identity_public_key
    if svc.seals_secrets and creds.payments_secret_key:
        env[f"{p}SECRET_KEYS"] = f"local:{creds.payments_secret_key}"
    return env


async def wait_ready(
    services: tuple[ServiceEntry, ...], procs: dict[str, subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = {s.name: s for s in services}
    async with httpx.AsyncClient(timeout=2.0) as client:
        while pending:
            for name, svc in list(pending.items()):
                if procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited with code {procs[name].returncode}")
                try:
                    r = await client.get(f"http://127.0.0.1:{svc.port}/readyz")
                    if r.status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {READY_TIMEOUT_S:.0f}s: {sorted(pending)}")
            await asyncio.sleep(0.2)


def run() -> int:
    started = time.monotonic()
    root = repo_root()
    local = root / ".local"
    cluster = PostgresCluster.at(local / "postgres", POSTGRES_PORT)
    kafka: KafkaHandle | None = None
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, request_stop)
    lock = _single_stack(local)
    try:
        print(f"postgres: starting on 127.0.0.1:{cluster.port} (data in {cluster.data_dir})")
        cluster.start()
        kafka = start_kafka()
        print(f"kafka: {kafka.kind} broker at {kafka.bootstrap_servers}")
        asyncio.run(bootstrap_database(cluster.admin_dsn(), cluster.admin_dsn(DATABASE), DATABASE))
        creds = Credentials.load_or_create(local / "dev-credentials.json")
        for svc in SERVICES:
            env = {
                **os.environ,
                **service_env(
                    svc,
                    cluster=cluster,
                    database=DATABASE,
                    kafka=kafka.bootstrap_servers,
                    creds=creds,
                ),
            }
            procs[svc.name] = subprocess.Popen(
                [sys.executable, "-m", svc.name],
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (the stack runs no threads)
            )
        asyncio.run(wait_ready(SERVICES, procs))
        elapsed = time.monotonic() - started
        print(f"\nBillstream is ready in {elapsed:.1f}s\n")
        for svc in SERVICES:
            print(f"  {svc.name:<14} http://127.0.0.1:{svc.port}")
        print(f"  {'postgres':<14} {cluster.dsn('<service>', '<password>', DATABASE)}")
        print(f"\n  API docs:       http://127.0.0.1:{GATEWAY.port}/docs")
        print(f"  dev API key:    {creds.dev_api_key}   (tenant {creds.dev_tenant_id})")
        print(f"  operator key:   {os.environ.get('BILLSTREAM_OPERATOR_KEY', creds.operator_key)}")
        print(
            "\n  try: curl -H 'Authorization: Bearer "
            f"{creds.dev_api_key}' http://127.0.0.1:{GATEWAY.port}/v1/time-entries\n"
            "  Ctrl-C stops everything.",
            flush=True,
        )
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with code {proc.returncode}; stopping", flush=True)
                    stopping = True
            time.sleep(0.5)
        return 0
    except Exception as exc:
        print(f"make run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping...", flush=True)
        _stop_processes(procs)
        if kafka is not None:
            kafka.stop()
        cluster.stop()
        lock.close()
        print("stopped.", flush=True)


def _single_stack(local: Path) -> IO[str]:
    """One stack per checkout: it owns its Postgres and stops it on the way out."""
    local.mkdir(parents=True, exist_ok=True)
    handle = (local / "stack.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SystemExit("make run is already running in this checkout") from None
    return handle


def _die_with_parent() -> None:
    """Linux: the service gets SIGTERM if the stack dies without cleaning up (kill -9, OOM)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop_processes(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


if __name__ == "__main__":
    sys.exit(run())
