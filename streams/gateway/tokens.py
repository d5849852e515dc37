"""Shopper tokens: what lets a browser act for one shopper, and no other.

A storefront's backend, which knows who is logged in, mints a token for that shopper with the
gateway's signing key (BASKETLIFT_GATEWAY_SIGNING_KEY) and hands it to the page; the page
sends it in `X-Basketlift-Shopper-Token` beside its publishable key. The token is

    <subject>.<expiry>.<signature>

where `subject` is the shopper id (or, for an anonymous visitor, the session id: the routing
key of the shopper's events), `expiry` the epoch second after which it is refused, and
`signature` the lowercase hex HMAC-SHA256 of `<subject>.<expiry>` under the signing key. It
is simple enough to mint in three lines of any language (README, "The gateway").

The subject is read up to the last two dots, so it may itself contain dots; it must be
printable ASCII without spaces (a header value carries it). Verification compares the
signature in constant time. Pure Python, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

__all__ = ["InvalidToken", "ShopperToken", "mint_token", "verify_token"]

MAX_TOKEN_CHARS = 512
"""Longest token looked at (a 200-character id, an expiry and 64 hex digits fit easily)."""


class InvalidToken(ValueError):
    """A shopper token that is malformed, wrongly signed or expired; the message says which
    (without repeating the token)."""


@dataclass(frozen=True, slots=True)
class ShopperToken:
    """A verified token: whom it speaks for, and until when (epoch seconds)."""

    subject: str
    expires_at: int


def signature(signing_key: str, subject: str, expires_at: int) -> str:
    """The hex HMAC-SHA256 of `<subject>.<expires_at>` under `signing_key`."""
    message = f"{subject}.{expires_at}".encode("ascii")
    return hmac.new(signing_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def check_subject(subject: str) -> None:
    """Raise InvalidToken unless `subject` can be carried in a token (non-empty printable
    ASCII without spaces)."""
    if not subject or not all("!" <= char <= "~" for char in subject):
        raise InvalidToken("the shopper id must be printable ASCII without spaces")


def mint_token(signing_key: str, subject: str, *, now: float, ttl_seconds: int) -> str:
    """A token for `subject` valid until `now + ttl_seconds` (epoch seconds)."""
    check_subject(subject)
    expires_at = int(now) + ttl_seconds
    return f"{subject}.{expires_at}.{signature(signing_key, subject, expires_at)}"


def verify_token(signing_key: str, token: str, *, now: float) -> ShopperToken:
    """The subject and expiry of a token signed with `signing_key` that has not expired at
    `now` (epoch seconds). Raises InvalidToken saying why otherwise."""
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken(f"the shopper token is longer than {MAX_TOKEN_CHARS} characters")
    payload, dot, presented = token.rpartition(".")
    subject, dot2, expiry = payload.rpartition(".")
    if not (dot and dot2 and subject and expiry.isdigit() and expiry.isascii()):
        raise InvalidToken("the shopper token is not <shopper>.<expiry>.<signature>")
    try:
        check_subject(subject)
    except InvalidToken:
        raise InvalidToken("the shopper token's shopper id is not printable ASCII") from None
    expires_at = int(expiry)
    expected = signature(signing_key, subject, expires_at)
    if not (presented.isascii() and hmac.compare_digest(presented.encode(), expected.encode())):
        raise InvalidToken("the shopper token's signature does not match")
    if now >= expires_at:
        raise InvalidToken("the shopper token has expired")
    return ShopperToken(subject, expires_at)
