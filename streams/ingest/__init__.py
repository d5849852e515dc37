"""Ingest: validate inbound events at the boundary and route them by shopper."""
