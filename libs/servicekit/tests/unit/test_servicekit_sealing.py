"""Sealed secrets: they open only with a listed key and in their own context."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicekit.sealing import Sealer, SealingError, new_key

OLD, NEW = new_key(), new_key()
HERE = b"payments.stripe_settings.webhook_secret:tenant-a"


@given(secret=st.text(max_size=300), context=st.binary(max_size=64))
def test_a_sealed_value_opens_to_what_was_sealed(secret: str, context: bytes) -> None:
    sealer = Sealer.from_setting(f"k1:{NEW}")
    sealed = sealer.seal(secret, context)
    assert sealer.open(sealed, context) == secret
    if len(secret) >= 8:  # shorter ones turn up in base64 text by chance
        assert secret not in sealed


def test_two_seals_of_one_secret_differ() -> None:
    sealer = Sealer.from_setting(f"k1:{NEW}")
    assert sealer.seal("whsec_abc", HERE) != sealer.seal("whsec_abc", HERE)


def test_a_sealed_value_does_not_open_elsewhere_or_altered() -> None:
    sealer = Sealer.from_setting(f"k1:{NEW}")
    sealed = sealer.seal("whsec_abc", HERE)
    with pytest.raises(SealingError, match="does not open"):
        sealer.open(sealed, b"payments.stripe_settings.webhook_secret:tenant-b")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealingError, match="does not open"):
        sealer.open(flipped, HERE)
    with pytest.raises(SealingError, match="does not open"):
        Sealer.from_setting(f"k1:{OLD}").open(sealed, HERE)  # same id, another key
    for mangled in ("whsec_abc", sealed + ".x", sealed[:10] + " " + sealed[10:]):
        with pytest.raises(SealingError, match="not a sealed value"):
            sealer.open(mangled, HERE)


def test_keys_roll_the_first_seals_and_every_listed_one_opens() -> None:
    before = Sealer.from_setting(f"old:{OLD}")
    during = Sealer.from_setting(f"new:{NEW}, old:{OLD}")
    after = Sealer.from_setting(f"new:{NEW}")
    sealed_before = before.seal("whsec_abc", HERE)
    assert during.open(sealed_before, HERE) == "whsec_abc"
    assert during.needs_resealing(sealed_before)
    resealed = during.seal("whsec_abc", HERE)
    assert resealed.startswith("v1.new.")
    assert not during.needs_resealing(resealed)
    assert after.open(resealed, HERE) == "whsec_abc"
    with pytest.raises(SealingError, match="'old', which the settings do not list"):
        after.open(sealed_before, HERE)


@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ("", "no key is listed"),
        (f"k1:{NEW},k1:{OLD}", "listed twice"),
        (f"k 1:{NEW}", "its id must be"),
        (f"{'k' * 33}:{NEW}", "its id must be"),
        ("k1:c2hvcnQ", "is 5 bytes, not 32"),
        ("k1:not base64!", "is not base64url"),
        (f"k1:{NEW[:20]}+/{NEW[22:]}", "is not base64url"),  # standard base64's alphabet
        (f"k1:{NEW[:20]} {NEW[20:]}", "is not base64url"),
    ],
)
def test_an_unusable_keys_setting_is_refused(setting: str, why: str) -> None:
    with pytest.raises(SealingError, match=why):
        Sealer.from_setting(setting)
