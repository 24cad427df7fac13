"""CPU time used by the processes of a benchmark, read from /proc."""

from __future__ import annotations

import os
from pathlib import Path

from servicekit.testing import Infra


def _cpu_seconds(pid: str) -> tuple[int, float, list[bytes]] | None:
    """(parent pid, user + system CPU seconds, command line) of a process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), cmdline


def cpu_seconds(infra: Infra) -> dict[str, float]:
    """CPU used so far by the services (this process's children, by module), by Postgres
    (the postmaster of the bench's cluster and its backends) and by the bench itself."""
    postmaster = (infra.cluster.data_dir / "postmaster.pid").read_text().split()[0]
    found: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if (seen := _cpu_seconds(pid)) is None:
            continue
        parent, used, cmdline = seen
        if pid == postmaster or str(parent) == postmaster:
            found["postgres"] = found.get("postgres", 0.0) + used
        elif pid == str(os.getpid()):
            found["load generator"] = used
        elif parent == os.getpid() and b"-m" in cmdline:
            found[cmdline[cmdline.index(b"-m") + 1].decode()] = used
    return found
