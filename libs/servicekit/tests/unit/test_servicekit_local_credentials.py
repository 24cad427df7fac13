"""`make run`'s credentials file: kept across restarts, completed when it predates a key."""

from __future__ import annotations

import json
from pathlib import Path

from servicekit.localinfra.stack import Credentials
from servicekit.sealing import Sealer


def test_a_file_without_the_payments_key_gains_one_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    first = Credentials.load_or_create(path)
    Sealer.from_setting(f"local:{first.payments_secret_key}")  # a usable key
    older = {k: v for k, v in first.__dict__.items() if k != "payments_secret_key"}
    path.write_text(json.dumps(older))  # as written before the key existed
    upgraded = Credentials.load_or_create(path)
    assert upgraded.dev_api_key == first.dev_api_key
    assert upgraded.identity_private_key == first.identity_private_key
    assert upgraded.payments_secret_key
    assert Credentials.load_or_create(path) == upgraded  # stored, not made anew each start
    assert path.stat().st_mode & 0o777 == 0o600
