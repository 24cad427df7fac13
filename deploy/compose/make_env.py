"""Write a `.env` for docker-compose.yml: a fresh Ed25519 identity keypair, random
passwords, dev keys and payments' sealing key. Run from the workspace root:

    uv run python deploy/compose/make_env.py            # writes ./.env (mode 600)
    uv run python deploy/compose/make_env.py --stdout   # prints it instead

Refuses to overwrite an existing file unless --force: rotating the database
passwords is fine (the bootstrap job re-applies them on every `up`), but a new
identity keypair or dev key invalidates what callers already hold.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import uuid
from pathlib import Path

from servicekit.identity import generate_keypair
from servicekit.localinfra.catalog import DATABASE_SERVICES
from servicekit.sealing import new_key


def _quoted(value: str) -> str:
    """Double-quoted .env value; Compose turns the \\n escapes back into newlines."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render() -> str:
    private, public = generate_keypair()
    # Hex passwords: they sit inside postgresql:// URLs, so no characters to escape.
    lines = [
        "# Billstream docker compose secrets (deploy/compose/README.md). Never commit this file.",
        f"POSTGRES_PASSWORD={secrets.token_hex(24)}",
        *(
            f"BILLSTREAM_DB_PASSWORD_{svc.name.upper()}={secrets.token_hex(24)}"
            for svc in DATABASE_SERVICES
        ),
        f"IDENTITY_PRIVATE_KEY={_quoted(private)}",
        f"IDENTITY_PUBLIC_KEY={_quoted(public)}",
        f"DEV_API_KEY=bsk_dev_{secrets.token_hex(24)}",
        f"DEV_TENANT_ID={uuid.uuid4()}",
        f"OPERATOR_KEY=bso_{secrets.token_hex(24)}",
        f"PAYMENTS_SECRET_KEYS=k1:{new_key()}",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(".env"))
    parser.add_argument("--stdout", action="store_true", help="print instead of writing a file")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args()
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    out: Path = args.output
    if out.exists() and not args.force:
        sys.stderr.write(f"{out} exists; keep it, or pass --force to replace every secret\n")
        return 1
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    out.chmod(0o600)
    sys.stderr.write(f"wrote {out} (mode 600)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
