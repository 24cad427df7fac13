"""A private Postgres cluster from the system's binaries, data under a git-ignored folder."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("BILLSTREAM_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
# The superuser is trusted on the socket only (the admin and test set-up connect that way);
# service roles give their passwords over the socket and TCP alike.
HBA = f"""\
local all {SUPERUSER} trust
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


class PostgresError(RuntimeError):
    pass


def _as_owner(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; run them as the postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _chown_for_server(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def reachable_root(preferred: Path) -> Path:
    """`preferred`, unless the server's user cannot reach it (a checkout under /root).

    Then a folder under /var/tmp named after the checkout, so each checkout keeps its own.
    """
    if os.geteuid() != 0:
        return preferred
    anchor = next(p for p in (preferred, *preferred.parents) if p.exists())
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(anchor)], check=False
    )
    if probe.returncode == 0:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path("/var/tmp/billstream") / digest / preferred.name  # noqa: S108


@dataclass(frozen=True)
class PostgresCluster:
    root: Path
    port: int

    @classmethod
    def at(cls, preferred: Path, port: int) -> PostgresCluster:
        return cls(reachable_root(preferred), port)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def admin_dsn(self, database: str = "postgres") -> str:
        """Superuser over the Unix socket (trusted locally; TCP needs passwords)."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def dsn(self, user: str, password: str, database: str) -> str:
        """A service role over the Unix socket, with its password (`HBA`).

        Everything here shares one machine, and a round trip over the socket costs the client
        ~15 us and Postgres ~15 us less CPU than over loopback TCP (of ~60 and ~45 us): on two
        cores that is the services' headroom. TCP on 127.0.0.1 stays open for other tools.
        """
        return f"postgresql://{user}:{password}@/{database}?host={self.socket_dir}&port={self.port}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(_as_owner(list(args)), capture_output=True, text=True, check=False)

    def is_running(self) -> bool:
        probe = self._run(str(PG_BIN / "pg_ctl"), "status", "-D", str(self.data_dir))
        return probe.returncode == 0

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if not (PG_BIN / "initdb").exists():
            raise PostgresError(f"no PostgreSQL binaries at {PG_BIN}: apt-get install postgresql")
        self.root.mkdir(parents=True, exist_ok=True)
        for d in (self.root, self.data_dir, self.socket_dir):
            d.mkdir(exist_ok=True)
            _chown_for_server(d)
        done = self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        if done.returncode != 0:
            raise PostgresError(f"initdb failed: {done.stderr}")

    def write_hba(self) -> None:
        """Passwords on every path but the superuser's socket; written at each start."""
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(HBA)
        _chown_for_server(hba)

    def start(self) -> bool:
        """Start the cluster; returns False when it was already running (left to its owner)."""
        self.init()
        self.write_hba()
        if self.is_running():
            # A cluster started before `HBA` changed reads it now.
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "reload")
            return False
        self.log_file.touch()
        _chown_for_server(self.log_file)
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=300",
                "-c shared_buffers=256MB",
                # For profiling runs, e.g. "-c shared_preload_libraries=pg_stat_statements".
                os.environ.get("BILLSTREAM_PG_OPTIONS", ""),
            ]
        )
        done = self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "start",
        )
        if done.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise PostgresError(f"postgres did not start: {done.stderr}\n{tail}")
        return True

    def stop(self) -> None:
        if self.is_running():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """For fault tests: drop every connection and come back."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
