"""`GET /offers/{shopper_id}`: the latest decision sent for a shopper, from its owning worker."""

from __future__ import annotations

from typing import Any

import orjson

from streams.offers.topics import latest_decisions_table


async def latest_offers(self: Any, request: Any, shopper_id: str) -> Any:
    """The latest decision (the contract's `shop.offers` shape), or 404."""
    raw = latest_decisions_table.get(shopper_id)
    if raw is None:
        return self.json({"error": f"no decision for shopper {shopper_id}"}, status=404)
    return self.json(orjson.loads(raw))
