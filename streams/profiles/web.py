"""`GET /state/shoppers/{shopper_id}`: the profile, answered by the worker that owns it."""

from __future__ import annotations

from typing import Any

import orjson

from streams.app import event_clock
from streams.profiles import model as profiles
from streams.profiles.agents import profile_config
from streams.profiles.topics import profiles_table


async def shopper_state(self: Any, request: Any, shopper_id: str) -> Any:
    """The profile as JSON with segments as of event time, or 404."""
    raw = profiles_table.get(shopper_id)
    if raw is None:
        return self.json({"error": f"no profile for shopper {shopper_id}"}, status=404)
    profile = profiles.ShopperProfile.from_dict(orjson.loads(raw))
    now_ms = max(event_clock.now_ms, profile.last_event_ts or 0)
    return self.json(profile.to_public_dict(now_ms, profile_config))
