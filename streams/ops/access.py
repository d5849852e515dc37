"""Who may read the worker's data endpoints, and what ids they take.

The data endpoints (`/state/shoppers/{id}`, `/offers/{id}`, `/state/products/{id}`) answer
only a request whose `Authorization: Bearer <token>` matches BASKETLIFT_API_TOKEN (or the
token in BASKETLIFT_API_TOKEN_FILE), compared in constant time; any other gets 401 with a
JSON body. Product state is not about one shopper, but it is derived from shoppers' orders
(for a rarely bought product its neighbours are one basket) and is the shop's sales data,
so it takes the token as well: every endpoint serving data does, only the operational ones
(`/metrics`, `/health`, `/live`) are open.

Without a token the data endpoints are open only on loopback: `basketlift worker` refuses to
bind any other address (`check_api_exposure`), and the guard itself refuses peers that are
not loopback. An id longer than `MAX_ID_BYTES` (or not UTF-8) gets 400 before any lookup
or routing, without a traceback in the log.

Pure Python: no Faust import. The guard wraps Faust view handlers, `(view, request,
**match_info)`, and answers with the view's `json`.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from streams.settings import ENV_PREFIX, SettingsError

MAX_ID_BYTES = 512
"""Longest id (UTF-8 bytes) a data endpoint looks up; the contract's ids are 200 characters
at most (schemas.events.MAX_ID_CHARS)."""

Handler = Callable[..., Awaitable[Any]]
"""A Faust view handler: `async (view, request, **match_info) -> response`."""


def bearer_value(authorization: str | None) -> str | None:
    """The value of an `Authorization: Bearer <value>` header, or None when the header is
    missing, of another scheme (case-insensitive, RFC 9110), empty or not ASCII (an ASCII
    token cannot equal it)."""
    if authorization is None:
        return None
    scheme, _, presented = authorization.strip().partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented or not presented.isascii():
        return None
    return presented


def bearer_token_matches(authorization: str | None, token: str) -> bool:
    """Whether an `Authorization` header value is `Bearer <token>`, compared in constant time.

    The values are compared with hmac.compare_digest, whose time does not depend on where
    they differ, so response times do not reveal how much of a guessed token is right.
    """
    presented = bearer_value(authorization)
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("ascii"), token.encode("ascii"))


def is_loopback_address(address: str | None) -> bool:
    """Whether `address` is a literal loopback IP (127.0.0.0/8, ::1, ::ffff:127.x.y.z)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def binds_loopback_only(host: str) -> bool:
    """Whether every address `host` resolves to (as the web server binds it) is loopback."""
    try:
        addresses = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return False
    return bool(addresses) and all(is_loopback_address(str(a[4][0])) for a in addresses)


def check_api_exposure(web_host: str, token: str | None) -> None:
    """Raise SettingsError when the data endpoints would be open beyond this machine: no API
    token and a web server binding an address that is not loopback."""
    if token is None and not binds_loopback_only(web_host):
        raise SettingsError(
            f"{ENV_PREFIX}WEB_HOST {web_host!r} is not a loopback address: set"
            f" {ENV_PREFIX}API_TOKEN (or {ENV_PREFIX}API_TOKEN_FILE), which /state and /offers"
            " then require, or bind 127.0.0.1"
        )


def id_problem(value: str) -> str | None:
    """Why a path id is not looked up (too long, or not encodable as the UTF-8 key bytes the
    tables use), or None."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return f"longer than {MAX_ID_BYTES} bytes" if size > MAX_ID_BYTES else None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the guard answers itself: status, JSON body and headers."""

    status: int
    body: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


UNAUTHORIZED = Refusal(
    401,
    {"error": "unauthorized", "detail": "send Authorization: Bearer <API token>"},
    {"WWW-Authenticate": 'Bearer realm="basketlift"'},
)
LOOPBACK_ONLY = Refusal(
    401,
    {"error": "unauthorized", "detail": "no API token is set: answered on loopback only"},
)


@dataclass(frozen=True, slots=True)
class ApiGuard:
    """The access rule of the data endpoints, for one token (None: loopback peers only)."""

    token: str | None

    def refusal(
        self, authorization: str | None, peer: str | None, ids: Mapping[str, str]
    ) -> Refusal | None:
        """How to answer a request instead of its endpoint, or None to let it through.

        `authorization` is its Authorization header, `peer` the address it came from and
        `ids` its path parameters (the ids it asks for).
        """
        if self.token is None:
            if not is_loopback_address(peer):
                return LOOPBACK_ONLY
        elif not bearer_token_matches(authorization, self.token):
            return UNAUTHORIZED
        for name, value in ids.items():
            problem = id_problem(value)
            if problem is not None:
                return Refusal(400, {"error": f"{name} {problem}"})
        return None

    def protect(self, handler: Handler) -> Handler:
        """`handler` answering only the requests `refusal` lets through; wrap it outside any
        `table_route`, so that a refused request is neither routed nor looked up (a routed
        request carries its headers, the token with them, to the owning worker)."""

        @wraps(handler)
        async def guarded(view: Any, request: Any, **match_info: str) -> Any:
            refusal = self.refusal(request.headers.get("Authorization"), request.remote, match_info)
            if refusal is not None:
                return view.json(refusal.body, status=refusal.status, headers=refusal.headers)
            return await handler(view, request, **match_info)

        return guarded
