"""The services of the platform, their default ports and what infrastructure they use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    name: str
    default_port: int
    database: bool
    kafka: bool
    # Keeps provider secrets sealed at rest (`<NAME>_SECRET_KEYS`, servicekit.sealing).
    seals_secrets: bool = False

    @property
    def env_prefix(self) -> str:
        return f"{self.name.upper()}_"

    @property
    def port(self) -> int:
        return int(os.environ.get(f"{self.env_prefix}HTTP_PORT", self.default_port))

    def password(self) -> str:
        """Local-only default; production sets BILLSTREAM_DB_PASSWORD_<NAME>."""
        return os.environ.get(f"BILLSTREAM_DB_PASSWORD_{self.name.upper()}", f"{self.name}-local")


GATEWAY = ServiceEntry("gateway", 8000, database=True, kafka=False)
SERVICES: tuple[ServiceEntry, ...] = (
    GATEWAY,
    ServiceEntry("timecapture", 8001, database=True, kafka=True),
    ServiceEntry("invoicing", 8002, database=True, kafka=True),
    ServiceEntry("payments", 8003, database=True, kafka=True, seals_secrets=True),
    ServiceEntry("notifications", 8004, database=True, kafka=True),
    ServiceEntry("analytics", 8005, database=True, kafka=True),
)
BACKENDS = tuple(s for s in SERVICES if s is not GATEWAY)
DATABASE_SERVICES = tuple(s for s in SERVICES if s.database)
POSTGRES_PORT = int(os.environ.get("BILLSTREAM_PG_PORT", "55432"))
DATABASE = os.environ.get("BILLSTREAM_DATABASE", "billstream")


def by_name(name: str) -> ServiceEntry:
    for s in SERVICES:
        if s.name == name:
            return s
    raise KeyError(name)


def repo_root() -> Path:
    """The workspace root (holder of uv.lock), where the git-ignored .local/ lives."""
    if home := os.environ.get("BILLSTREAM_HOME"):
        return Path(home)
    for candidate in (Path.cwd(), *Path.cwd().parents):
        if (candidate / "uv.lock").exists() and (candidate / "services").is_dir():
            return candidate
    return Path.cwd()
