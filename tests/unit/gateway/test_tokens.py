"""Shopper tokens: minted and verified with one key, refused when altered, foreign or expired."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from streams.gateway.tokens import InvalidToken, mint_token, verify_token

KEY = "signing-key-0123456789abcdef"
NOW = 1_800_000_000.0


def test_a_minted_token_verifies_to_its_shopper_and_expiry() -> None:
    token = mint_token(KEY, "c-17850", now=NOW, ttl_seconds=60)
    verified = verify_token(KEY, token, now=NOW + 59)
    assert (verified.subject, verified.expires_at) == ("c-17850", int(NOW) + 60)


def test_the_readme_recipe_mints_the_same_token() -> None:
    # The three lines README "The gateway" gives for Python, written out here.
    exp = int(NOW) + 3600
    sig = hmac.new(KEY.encode(), f"c-1.{exp}".encode(), hashlib.sha256).hexdigest()
    assert f"c-1.{exp}.{sig}" == mint_token(KEY, "c-1", now=NOW, ttl_seconds=3600)


def test_a_shopper_id_with_dots_is_read_up_to_the_last_two_dots() -> None:
    token = mint_token(KEY, "shop.eu.c-1", now=NOW, ttl_seconds=60)
    assert verify_token(KEY, token, now=NOW).subject == "shop.eu.c-1"


def test_an_expired_token_is_refused() -> None:
    token = mint_token(KEY, "c-1", now=NOW, ttl_seconds=60)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(KEY, token, now=NOW + 60)


def test_a_token_of_another_key_is_refused() -> None:
    token = mint_token("another-key-0123456789abcdef", "c-1", now=NOW, ttl_seconds=60)
    with pytest.raises(InvalidToken, match="signature"):
        verify_token(KEY, token, now=NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("c-1.", "c-2.", 1),  # another shopper, same signature
        lambda t: t.rsplit(".", 2)[0] + f".{int(NOW) + 10**6}." + t.rsplit(".", 1)[1],  # later
    ],
    ids=["shopper", "expiry"],
)
def test_a_token_with_an_altered_shopper_or_expiry_is_refused(tamper: object) -> None:
    token = mint_token(KEY, "c-1", now=NOW, ttl_seconds=60)
    with pytest.raises(InvalidToken, match="signature"):
        verify_token(KEY, tamper(token), now=NOW)  # type: ignore[operator]


@pytest.mark.parametrize("token", ["", "c-1", "c-1.123", ".123.abc", "c-1.12x.abc", "x" * 600])
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(KEY, token, now=NOW)


@pytest.mark.parametrize("subject", ["", "with space", "caf\u00e9"])
def test_no_token_is_minted_for_an_id_a_header_cannot_carry(subject: str) -> None:
    with pytest.raises(InvalidToken, match="printable ASCII"):
        mint_token(KEY, subject, now=NOW, ttl_seconds=60)
