"""Who may call the gateway, as whom, and from which web origins (CORS).

Every request except `/health` and `/metrics` sends `Authorization: Bearer <key>`:

- a secret key (BASKETLIFT_GATEWAY_SECRET_KEYS), used server to server, may do everything:
  post any shopper's events, read any decision, stream any shopper's decisions;
- a publishable key (BASKETLIFT_GATEWAY_PUBLIC_KEYS), used from browsers, is accepted only
  from an allowed origin (BASKETLIFT_GATEWAY_ALLOWED_ORIGINS, the `Origin` header browsers
  send) and only with a valid shopper token (`X-Basketlift-Shopper-Token`,
  `streams.gateway.tokens`); it then acts for that token's shopper alone. A browser's
  EventSource cannot send headers, so the event stream also takes the publishable key and
  the token as the query parameters `key` and `shopper_token` (a secret key there is
  refused).

A missing or unknown key, or a publishable key without a valid token, is 401; a publishable
key from an origin not allowed, or acting for another shopper than its token's, is 403. With
no key configured at all the gateway is open, but only to loopback peers (and `basketlift
gateway` refuses to bind anything else). Keys are compared in constant time against every
configured key. Pure Python: no aiohttp import.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from streams.gateway.tokens import InvalidToken, verify_token
from streams.ops.access import bearer_value, is_loopback_address
from streams.settings import Settings

__all__ = [
    "SHOPPER_TOKEN_HEADER",
    "GatewayAuth",
    "Grant",
    "Refusal",
    "gateway_auth",
]

SHOPPER_TOKEN_HEADER = "X-Basketlift-Shopper-Token"
ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = f"Authorization, Content-Type, {SHOPPER_TOKEN_HEADER}, Last-Event-ID"
PREFLIGHT_MAX_AGE_SECONDS = 600


@dataclass(frozen=True, slots=True)
class Grant:
    """What an accepted request may do: act for `subject` only (a shopper token's), or for
    every shopper (`subject` None: a secret key, or the open loopback gateway)."""

    subject: str | None

    def allows(self, routing_key: str) -> bool:
        """Whether the request may act for (post events of, read decisions of) this shopper
        (or anonymous session)."""
        return self.subject is None or hmac.compare_digest(
            self.subject.encode("utf-8"), routing_key.encode("utf-8")
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the gateway refuses: status and a JSON body `{"error", "detail"}`."""

    status: int
    error: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        """The JSON body."""
        return {"error": self.error, "detail": self.detail}


def unauthorized(detail: str) -> Refusal:
    """401 with the Bearer challenge."""
    return Refusal(401, "unauthorized", detail, {"WWW-Authenticate": 'Bearer realm="basketlift"'})


def forbidden_for(subject: str) -> Refusal:
    """403 for a shopper token acting beyond its shopper."""
    return Refusal(403, "forbidden", f"the shopper token is for another shopper than {subject!r}")


def matches_any(presented: str, keys: tuple[str, ...]) -> bool:
    """Whether `presented` equals one of `keys`; every key is compared (in constant time),
    so the time taken says nothing about which key, or how much of one, matched."""
    candidate = presented.encode("ascii")
    results = [hmac.compare_digest(candidate, key.encode("ascii")) for key in keys]
    return any(results)


@dataclass(frozen=True)
class GatewayAuth:
    """The gateway's keys, allowed origins and token signing key."""

    secret_keys: tuple[str, ...] = ()
    public_keys: tuple[str, ...] = ()
    allowed_origins: frozenset[str] = frozenset()
    signing_key: str | None = None

    @property
    def is_open(self) -> bool:
        """No key configured: every loopback peer may do everything (the demo)."""
        return not self.secret_keys and not self.public_keys

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether browsers on `origin` may call the gateway."""
        return origin is not None and origin.rstrip("/") in self.allowed_origins

    def authenticate(
        self,
        *,
        authorization: str | None,
        origin: str | None,
        shopper_token: str | None,
        peer: str | None,
        now: float,
        key_in_url: bool = False,
    ) -> Grant | Refusal:
        """What a request with these headers, from `peer`, at `now` (epoch seconds) may do,
        or why it is refused.

        `key_in_url`: the key and token came in the URL (an EventSource cannot send
        headers); only a publishable key is accepted so, a secret key never (URLs end up in
        logs and browser histories).
        """
        if self.is_open:
            if not is_loopback_address(peer):
                return unauthorized("no gateway key is set: answered on loopback only")
            return Grant(None)
        presented = bearer_value(authorization)
        if presented is None:
            return unauthorized("send Authorization: Bearer <gateway key>")
        if matches_any(presented, self.secret_keys):
            if key_in_url:
                return unauthorized(
                    "a secret key is never accepted in a URL: send it in the Authorization"
                    " header (and replace it: it may have been logged)"
                )
            return Grant(None)
        if not matches_any(presented, self.public_keys):
            return unauthorized("the gateway key is not valid")
        if not self.origin_allowed(origin):
            return Refusal(
                403,
                "origin_not_allowed",
                "a publishable key is accepted only from an allowed origin"
                " (BASKETLIFT_GATEWAY_ALLOWED_ORIGINS)",
            )
        if shopper_token is None:
            return unauthorized(f"a publishable key needs a shopper token ({SHOPPER_TOKEN_HEADER})")
        assert self.signing_key is not None  # the settings require it with publishable keys
        try:
            token = verify_token(self.signing_key, shopper_token, now=now)
        except InvalidToken as error:
            return unauthorized(str(error))
        return Grant(token.subject)

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        """Headers letting a browser on `origin` read the response (none when the origin is
        not allowed: the browser then withholds the response from the page)."""
        if not self.origin_allowed(origin):
            return {}
        assert origin is not None
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def origin_refusal(self, origin: str | None) -> Refusal | None:
        """403 for a browser request from an origin not allowed, else None."""
        if self.origin_allowed(origin):
            return None
        return Refusal(
            403,
            "origin_not_allowed",
            f"origin {origin!r} is not in BASKETLIFT_GATEWAY_ALLOWED_ORIGINS",
        )

    def preflight(self, origin: str | None) -> Refusal | dict[str, str]:
        """The answer to a CORS preflight (OPTIONS) from `origin`: its headers, or a 403."""
        refusal = self.origin_refusal(origin)
        if refusal is not None:
            return refusal
        return {
            **self.cors_headers(origin),
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        }


def gateway_auth(settings: Settings) -> GatewayAuth:
    """The gateway's access rule the settings describe."""
    signing_key = settings.gateway_signing_key
    return GatewayAuth(
        secret_keys=tuple(settings.gateway_secret_keys_list),
        public_keys=tuple(settings.gateway_public_keys_list),
        allowed_origins=frozenset(settings.gateway_allowed_origins_list),
        signing_key=signing_key.get_secret_value() if signing_key is not None else None,
    )
