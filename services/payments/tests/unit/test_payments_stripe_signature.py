"""Our `Stripe-Signature` check against headers made by the official `stripe` library."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.stripe import TOLERANCE_S, SignatureInvalid, verify_signature

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
SECRET = "whsec_unitTestSecret01"


def header(payload: str, secret: str = SECRET, at: int = T) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=at)


@given(payload=st.text(min_size=1, max_size=500), secret=st.text(min_size=1, max_size=60))
def test_every_payload_stripe_signs_verifies_and_any_change_does_not(
    payload: str, secret: str
) -> None:
    signed = header(payload, secret)
    verify_signature(payload.encode(), signed, secret, NOW)
    with pytest.raises(SignatureInvalid):
        verify_signature(payload.encode() + b" ", signed, secret, NOW)
    with pytest.raises(SignatureInvalid):
        verify_signature(payload.encode(), signed, secret + "x", NOW)


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (-TOLERANCE_S, True),
        (TOLERANCE_S, True),
        (-TOLERANCE_S - 1, False),
        (TOLERANCE_S + 1, False),
    ],
)
def test_the_tolerance_holds_both_ways_to_the_second(offset: int, ok: bool) -> None:
    signed = header("{}", at=T + offset)
    if ok:
        verify_signature(b"{}", signed, SECRET, NOW)
    else:
        with pytest.raises(SignatureInvalid, match="from now"):
            verify_signature(b"{}", signed, SECRET, NOW)


def test_any_of_several_v1_signatures_may_match_and_other_schemes_are_ignored() -> None:
    old = header("{}", "whsec_old").split(",")[1]
    new = header("{}").split(",")[1]
    verify_signature(b"{}", f"t={T},{old},v0=deadbeef,{new}", SECRET, NOW)
    with pytest.raises(SignatureInvalid, match="no v1"):
        verify_signature(b"{}", f"t={T},v0={new.split('=')[1]}", SECRET, NOW)


@pytest.mark.parametrize(
    "broken",
    [
        "",
        "v1=abc",
        "t=abc,v1=abc",
        f"t={T},t={T},v1=abc",
        f"t={T}",
        "garbage",
        "t=\u00b2,v1=" + "a" * 64,  # a Unicode digit: isdigit() says yes, int() says no
        "t=" + "9" * 400 + ",v1=" + "a" * 64,  # would overflow a timestamp
        f"t={T},v1=" + "é" * 64,  # not ASCII: compare_digest would raise
        f"t={T},v1=" + "A" * 64,  # Stripe's hex is lower case
    ],
)
def test_malformed_headers_are_refused(broken: str) -> None:
    with pytest.raises(SignatureInvalid):
        verify_signature(b"{}", broken or None, SECRET, NOW)
