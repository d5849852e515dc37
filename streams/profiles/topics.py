"""The shopper domain's tables (partitioned by shopper, or session when anonymous)."""

from __future__ import annotations

from streams.app import raw_table, settings

# shopper_id -> ShopperProfile (only for shoppers who have not revoked consent).
profiles_table = raw_table("shopper-profiles", settings.partitions)
# shopper_id -> b"1" granted / b"0" revoked; absent = the configured default.
consent_table = raw_table("shopper-consent", settings.partitions)
