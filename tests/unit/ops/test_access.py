"""streams/ops/access.py: the API token check, the id bound, and the loopback rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from streams.ops import access
from streams.ops.access import (
    MAX_ID_BYTES,
    ApiGuard,
    bearer_token_matches,
    check_api_exposure,
    is_loopback_address,
)
from streams.settings import SettingsError

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("authorization", "matches"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),  # the scheme is case-insensitive
        (f"  Bearer   {TOKEN}  ", True),
        (None, False),
        ("", False),
        ("Bearer", False),
        ("Bearer ", False),
        (TOKEN, False),
        (f"Basic {TOKEN}", False),
        (f"Bearer {TOKEN[:-1]}", False),
        (f"Bearer {TOKEN}0", False),
        (f"Bearer {TOKEN.upper()}", False),
        (f"Bearer {TOKEN[:-1]}é", False),  # non-ASCII: refused, not a TypeError
    ],
)
def test_only_the_exact_bearer_token_matches(authorization: str | None, matches: bool) -> None:
    assert bearer_token_matches(authorization, TOKEN) is matches


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def recording_compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(access.hmac, "compare_digest", recording_compare_digest)
    assert bearer_token_matches(f"Bearer {TOKEN}", TOKEN)
    assert not bearer_token_matches("Bearer x", TOKEN)
    assert compared == [(TOKEN.encode(), TOKEN.encode()), (b"x", TOKEN.encode())]


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:10.0.0.5", False),
        ("localhost", False),  # a name, not an address
        ("", False),
        (None, False),
    ],
)
def test_loopback_addresses(address: str | None, loopback: bool) -> None:
    assert is_loopback_address(address) is loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_a_loopback_bind_needs_no_token(host: str) -> None:
    check_api_exposure(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_bind_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(SettingsError) as info:
        check_api_exposure(host, None)
    assert str(info.value).startswith(f"BASKETLIFT_WEB_HOST {host!r} is not a loopback address")
    assert "BASKETLIFT_API_TOKEN" in str(info.value)
    check_api_exposure(host, TOKEN)


def test_with_a_token_only_requests_carrying_it_pass() -> None:
    guard = ApiGuard(TOKEN)
    for peer in ("127.0.0.1", "10.0.0.5"):
        assert guard.refusal(f"Bearer {TOKEN}", peer, {"shopper_id": "c-1"}) is None
        for authorization in (None, "Bearer nope"):
            refusal = guard.refusal(authorization, peer, {"shopper_id": "c-1"})
            assert refusal is not None
            assert refusal.status == 401
            assert refusal.body["error"] == "unauthorized"
            assert refusal.headers["WWW-Authenticate"].startswith("Bearer")


def test_without_a_token_only_loopback_peers_pass() -> None:
    guard = ApiGuard(None)
    assert guard.refusal(None, "127.0.0.1", {"shopper_id": "c-1"}) is None
    assert guard.refusal(None, "::1", {"shopper_id": "c-1"}) is None
    for peer in ("10.0.0.5", None):
        refusal = guard.refusal(None, peer, {"shopper_id": "c-1"})
        assert refusal is not None and refusal.status == 401


@pytest.mark.parametrize("token", [TOKEN, None])
def test_ids_over_the_bound_are_refused_with_400(token: str | None) -> None:
    guard = ApiGuard(token)
    authorization = f"Bearer {TOKEN}"
    assert guard.refusal(authorization, "127.0.0.1", {"product_id": "p" * MAX_ID_BYTES}) is None
    refusal = guard.refusal(authorization, "127.0.0.1", {"product_id": "p" * (MAX_ID_BYTES + 1)})
    assert refusal is not None
    assert (refusal.status, refusal.body) == (
        400,
        {"error": f"product_id longer than {MAX_ID_BYTES} bytes"},
    )
    # The bound is in bytes: 257 two-byte characters are 514 of them.
    wide = guard.refusal(authorization, "127.0.0.1", {"shopper_id": "é" * (MAX_ID_BYTES // 2 + 1)})
    assert wide is not None and wide.status == 400
    surrogate = guard.refusal(authorization, "127.0.0.1", {"shopper_id": "c-\udcff"})
    assert surrogate is not None and surrogate.status == 400


def test_an_unauthorized_request_is_refused_before_its_id_is_judged() -> None:
    refusal = ApiGuard(TOKEN).refusal(None, "127.0.0.1", {"shopper_id": "c" * 1000})
    assert refusal is not None and refusal.status == 401


@dataclass
class FakeRequest:
    """The parts of an aiohttp request the guard reads."""

    headers: dict[str, str] = field(default_factory=dict)
    remote: str | None = "10.0.0.5"


class FakeView:
    """A Faust view's `json` response builder, recording what it was asked to answer."""

    def json(self, value: Any, *, status: int = 200, headers: Any = None) -> Any:
        return {"status": status, "body": value, "headers": dict(headers or {})}


async def test_protect_answers_refused_requests_itself_and_passes_the_others() -> None:
    calls: list[str] = []

    async def shopper_state(view: Any, request: Any, shopper_id: str) -> Any:
        """The endpoint."""
        calls.append(shopper_id)
        return view.json({"shopper_id": shopper_id})

    guarded = ApiGuard(TOKEN).protect(shopper_state)
    assert guarded.__name__ == "shopper_state"  # Faust names the view after it
    view = FakeView()
    refused = await guarded(view, FakeRequest(), shopper_id="c-1")
    assert refused["status"] == 401 and calls == []
    too_long = await guarded(
        view,
        FakeRequest({"Authorization": f"Bearer {TOKEN}"}),
        shopper_id="c" * (MAX_ID_BYTES + 1),
    )
    assert too_long["status"] == 400 and calls == []
    served = await guarded(
        view, FakeRequest({"Authorization": f"Bearer {TOKEN}"}), shopper_id="c-1"
    )
    assert served == {"status": 200, "body": {"shopper_id": "c-1"}, "headers": {}}
    assert calls == ["c-1"]
