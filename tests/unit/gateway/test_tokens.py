"""Shopper tokens: minted and verified with one key, refused when altered, foreign or expired;
the README's Python and Node recipes mint tokens the gateway accepts."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

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


README = Path(__file__).resolve().parents[3] / "README.md"


def readme_recipe(language: str) -> str:
    """The token recipe README "The gateway" gives in `language` (its fenced block)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Shopper tokens**") : text.index("## The storefront widget")]
    found = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"README has no {language} token recipe"
    return found.group(1)


def test_the_readmes_python_recipe_mints_a_token_the_gateway_accepts() -> None:
    scope = {"time": time, "hmac": hmac, "hashlib": hashlib, "signing_key": KEY}
    scope["shopper_id"] = "c-17850"
    exec(readme_recipe("python"), scope)  # the README's three lines, as written
    verified = verify_token(KEY, str(scope["token"]), now=time.time())
    assert verified.subject == "c-17850"
    assert time.time() < verified.expires_at <= time.time() + 3601


def test_the_readmes_node_recipe_mints_a_token_the_gateway_accepts() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = (
        'const crypto = require("crypto");\n'
        f'const signingKey = {json.dumps(KEY)}; const shopperId = "c-17850";\n'
        + readme_recipe("js")
        + "console.log(token);\n"
    )
    result = subprocess.run(
        [node, "-e", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    verified = verify_token(KEY, result.stdout.strip(), now=time.time())
    assert verified.subject == "c-17850"
