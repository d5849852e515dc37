"""The gateway's access rule: secret keys do everything, publishable keys act for their
token's shopper from allowed origins only, an unconfigured gateway answers loopback only."""

from __future__ import annotations

import pytest

from streams.gateway.auth import GatewayAuth, Grant, Refusal, gateway_auth
from streams.gateway.tokens import mint_token
from streams.settings import Settings

SECRET = "sk-0123456789abcdef0123"
PUBLIC = "pk-0123456789abcdef0123"
SIGNING = "signing-0123456789abcdef"
SHOP = "https://shop.example"
NOW = 1_800_000_000.0
AUTH = GatewayAuth(
    secret_keys=("sk-other-0123456789abcdef", SECRET),
    public_keys=(PUBLIC,),
    allowed_origins=frozenset({SHOP}),
    signing_key=SIGNING,
)


def token_for(shopper: str, ttl: int = 60) -> str:
    return mint_token(SIGNING, shopper, now=NOW, ttl_seconds=ttl)


def decide(
    auth: GatewayAuth = AUTH,
    *,
    key: str | None = None,
    origin: str | None = None,
    token: str | None = None,
    peer: str = "10.0.0.5",
) -> Grant | Refusal:
    return auth.authenticate(
        authorization=None if key is None else f"Bearer {key}",
        origin=origin,
        shopper_token=token,
        peer=peer,
        now=NOW,
    )


def test_a_secret_key_acts_for_every_shopper() -> None:
    grant = decide(key=SECRET)
    assert isinstance(grant, Grant)
    assert grant.allows("c-1") and grant.allows("c-2")


def test_a_publishable_key_with_a_token_acts_for_that_shopper_only() -> None:
    grant = decide(key=PUBLIC, origin=SHOP, token=token_for("c-1"))
    assert isinstance(grant, Grant)
    assert grant.allows("c-1")
    assert not grant.allows("c-2")


@pytest.mark.parametrize(
    ("key", "origin", "token", "status", "error"),
    [
        (None, None, None, 401, "unauthorized"),
        ("sk-wrong-0123456789abcdef", None, None, 401, "unauthorized"),
        (PUBLIC, SHOP, None, 401, "unauthorized"),  # no shopper token
        (PUBLIC, SHOP, "c-1.1.abc", 401, "unauthorized"),  # a forged token
        (PUBLIC, None, "token", 403, "origin_not_allowed"),  # not from a browser page
        (PUBLIC, "https://evil.example", "token", 403, "origin_not_allowed"),
    ],
    ids=["no-key", "wrong-key", "no-token", "forged-token", "no-origin", "other-origin"],
)
def test_refusals(
    key: str | None, origin: str | None, token: str | None, status: int, error: str
) -> None:
    refusal = decide(key=key, origin=origin, token=token)
    assert isinstance(refusal, Refusal)
    assert (refusal.status, refusal.error) == (status, error)


def test_an_expired_token_is_refused_with_401() -> None:
    expired = mint_token(SIGNING, "c-1", now=NOW - 120, ttl_seconds=60)
    refusal = decide(key=PUBLIC, origin=SHOP, token=expired)
    assert isinstance(refusal, Refusal)
    assert refusal.status == 401 and "expired" in refusal.detail


def test_a_401_carries_the_bearer_challenge() -> None:
    refusal = decide()
    assert isinstance(refusal, Refusal)
    assert refusal.headers["WWW-Authenticate"].startswith("Bearer")


def test_without_keys_only_loopback_peers_are_served() -> None:
    open_auth = GatewayAuth()
    assert isinstance(decide(open_auth, peer="127.0.0.1"), Grant)
    assert isinstance(decide(open_auth, peer="::1"), Grant)
    refusal = decide(open_auth, peer="192.168.1.9")
    assert isinstance(refusal, Refusal) and refusal.status == 401


def test_cors_headers_name_an_allowed_origin_only() -> None:
    assert AUTH.cors_headers(SHOP) == {"Access-Control-Allow-Origin": SHOP, "Vary": "Origin"}
    assert AUTH.cors_headers(SHOP + "/")["Access-Control-Allow-Origin"] == SHOP + "/"
    assert AUTH.cors_headers("https://evil.example") == {}
    assert AUTH.cors_headers(None) == {}


def test_a_preflight_from_an_allowed_origin_allows_the_token_header() -> None:
    headers = AUTH.preflight(SHOP)
    assert isinstance(headers, dict)
    assert headers["Access-Control-Allow-Origin"] == SHOP
    assert "X-Basketlift-Shopper-Token" in headers["Access-Control-Allow-Headers"]
    assert "POST" in headers["Access-Control-Allow-Methods"]


def test_a_preflight_from_another_origin_is_refused() -> None:
    refusal = AUTH.preflight("https://evil.example")
    assert isinstance(refusal, Refusal) and refusal.status == 403


def test_the_settings_make_the_rule(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(
        gateway_secret_keys=f"{SECRET}, sk-other-0123456789abcdef",  # type: ignore[arg-type]
        gateway_public_keys=PUBLIC,
        gateway_allowed_origins=f"{SHOP}/, http://localhost:8000",
        gateway_signing_key=SIGNING,  # type: ignore[arg-type]
    )
    auth = gateway_auth(settings)
    assert auth.secret_keys == (SECRET, "sk-other-0123456789abcdef")
    assert auth.public_keys == (PUBLIC,)
    assert auth.allowed_origins == {SHOP, "http://localhost:8000"}
    assert auth.signing_key == SIGNING
    assert not auth.is_open
    assert gateway_auth(Settings()).is_open


def test_a_publishable_key_in_a_url_is_accepted_and_a_secret_key_never() -> None:
    grant = AUTH.authenticate(
        authorization=f"Bearer {PUBLIC}",
        origin=SHOP,
        shopper_token=token_for("c-1"),
        peer="10.0.0.5",
        now=NOW,
        key_in_url=True,
    )
    assert isinstance(grant, Grant) and grant.allows("c-1")
    refusal = AUTH.authenticate(
        authorization=f"Bearer {SECRET}",
        origin=None,
        shopper_token=None,
        peer=None,
        now=NOW,
        key_in_url=True,
    )
    assert isinstance(refusal, Refusal)
    assert refusal.status == 401 and "never accepted in a URL" in refusal.detail
