"""The offers domain's tables (partitioned by shopper); decisions go to `shop.offers`."""

from __future__ import annotations

from streams.app import raw_table, settings
from streams.ingest.topics import offers_topic

# shopper_id -> the latest decision sent for them (contract JSON), for GET /offers/{id}.
latest_decisions_table = raw_table("offer-decisions-latest", settings.partitions)
# shopper_id -> FatigueState: offers shown or dismissed recently (from shop.clicks).
fatigue_table = raw_table("offer-fatigue", settings.partitions)
# routing key (shopper, or session) -> OfferLedger: offers shown recently, for attribution.
ledger_table = raw_table("offer-ledger", settings.partitions)
# published_from_key(partition) -> the offset of shop.offers from which decisions published
# for that partition may not be in the committed state yet (streams.offers.published).
published_from_table = raw_table("offer-decisions-published-from", settings.partitions)

__all__ = [
    "fatigue_table",
    "latest_decisions_table",
    "ledger_table",
    "offers_topic",
    "published_from_table",
]
