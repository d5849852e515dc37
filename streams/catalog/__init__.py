"""Catalog: product facts from the compacted shop.catalog topic, on every worker."""
