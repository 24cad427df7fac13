"""`make run`'s stack: ready in under 60 s, serves a request, and Ctrl-C leaves no process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from servicekit.localinfra.catalog import SERVICES, repo_root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in blob:
            found.append(int(entry.name))
    return found


def test_stack_is_ready_within_a_minute_and_ctrl_c_leaves_nothing() -> None:
    home = repo_root() / ".local" / f"stack-test-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    ports = {s.name: free_port() for s in SERVICES}
    env = {
        **os.environ,
        "BILLSTREAM_HOME": str(home),
        "BILLSTREAM_PG_PORT": str(free_port()),
        **{f"{s.env_prefix}HTTP_PORT": str(ports[s.name]) for s in SERVICES},
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "servicekit.localinfra.stack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        ready_line = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not ready_line:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("Billstream is ready in"):
                ready_line = line
        assert ready_line, "the stack never said it was ready"
        seconds = float(ready_line.split(" in ")[1].rstrip("s\n"))
        assert seconds < 60

        creds = json.loads((home / ".local" / "dev-credentials.json").read_text())
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        auth = {"Authorization": f"Bearer {creds['dev_api_key']}"}
        with httpx.Client(base_url=gateway, headers=auth, timeout=10) as http:
            client = http.post("/v1/clients", json={"name": "Acme", "currency": "EUR"})
            assert client.status_code == 201, client.text
            project = http.post(
                "/v1/projects", json={"client_id": client.json()["id"], "name": "Web"}
            )
            assert project.status_code == 201, project.text
            member = http.post("/v1/members", json={"name": "Ada", "email": "ada@example.com"})
            assert member.status_code == 201, member.text
            r = http.post(
                "/v1/time-entries",
                json={
                    "member_id": member.json()["id"],
                    "project_id": project.json()["id"],
                    "started_at": "2026-01-05T09:00:00+01:00",
                    "duration_minutes": 45,
                },
            )
            assert r.status_code == 201, r.text
        assert processes_mentioning(str(home)), "the stack's processes should be visible"

        # As a terminal's Ctrl-C does: SIGINT to the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while processes_mentioning(str(home)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_mentioning(str(home)) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(home, ignore_errors=True)
