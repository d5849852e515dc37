"""The files the gateway serves to browsers: the widget and the demo storefront.

- `/basketlift.js`: the storefront widget (`streams/resources/web/basketlift.js`), public:
  no key, cached for `WIDGET_MAX_AGE_SECONDS` and then revalidated by its ETag, so a page
  embedding it loads it once per visit and picks up a new gateway's copy within minutes.
- `/demo/` (`index.html`, `demo.js`, `demo.css`) and `/demo/catalog.json`: the demo
  storefront, served only by an open (keyless, loopback) gateway, as by `basketlift demo`;
  revalidated on every load (`no-cache`), as they change with the gateway's version.

`demo_catalog` is the demo's product list: the most ordered products of the shipped sample
of real orders, with their real titles and prices. Pure: no aiohttp import.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from streams.resources import DEMO_DIR, WIDGET_JS
from streams.tools.replay.events import CURRENCY
from streams.tools.replay.orderlog import OrderLog

__all__ = [
    "DEMO_CATALOG_SIZE",
    "WIDGET_MAX_AGE_SECONDS",
    "Asset",
    "demo_assets",
    "demo_catalog",
    "load_asset",
    "widget_asset",
]

WIDGET_MAX_AGE_SECONDS: Final = 300
DEMO_CATALOG_SIZE: Final = 24
"""Products on the demo page: the most ordered, so that the worker has co-purchases to
offer for any of them after a short replay."""
CONTENT_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """A file as served: its bytes, type, caching policy and strong ETag (of the bytes)."""

    body: bytes
    content_type: str
    cache_control: str

    @property
    def etag(self) -> str:
        """A strong validator: the bytes' digest, quoted."""
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'

    def headers(self) -> dict[str, str]:
        """Type, caching and validator headers, and `nosniff` (the type is the one given)."""
        return {
            "Content-Type": self.content_type,
            "Cache-Control": self.cache_control,
            "ETag": self.etag,
            "X-Content-Type-Options": "nosniff",
        }

    def not_modified(self, if_none_match: str | None) -> bool:
        """Whether a request's If-None-Match names this version (a 304 answers it)."""
        if if_none_match is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return self.etag in tags or "*" in tags


def load_asset(path: Path, cache_control: str, body: bytes | None = None) -> Asset:
    """The file at `path` (or `body`, typed by `path`'s suffix) as an asset."""
    content_type = CONTENT_TYPES[path.suffix]
    return Asset(path.read_bytes() if body is None else body, content_type, cache_control)


def widget_asset() -> Asset:
    """`basketlift.js`, cached by browsers and proxies for a few minutes."""
    return load_asset(WIDGET_JS, f"public, max-age={WIDGET_MAX_AGE_SECONDS}")


def demo_assets() -> dict[str, Asset]:
    """The demo page's files by their name under /demo/ ("" is the page itself)."""
    files = {"": "index.html", "demo.js": "demo.js", "demo.css": "demo.css"}
    return {name: load_asset(DEMO_DIR / file, "no-cache") for name, file in files.items()}


def demo_catalog(log: OrderLog, count: int = DEMO_CATALOG_SIZE) -> dict[str, Any]:
    """The demo page's catalog: `products`, the `count` products in most orders (ties by
    product id), each with the title, price and category of its last order line, most
    ordered first; `titles`, every titled product's title (offers name products beyond
    the shelf); the `currency` of the replayed orders. Products without a title are left
    out: the page shows real names."""
    orders_with: Counter[str] = Counter()
    last: dict[str, dict[str, Any]] = {}
    for order in log.orders:
        for product in {line.product_id for line in order.lines}:
            orders_with[product] += 1
        for line in order.lines:
            if line.title and line.title.strip():
                last[line.product_id] = {
                    "product_id": line.product_id,
                    "title": line.title.strip(),
                    "unit_price": line.unit_price,
                    "category": line.category,
                }
    ranked = sorted(last, key=lambda product: (-orders_with[product], product))
    return {
        "currency": CURRENCY,
        "products": [last[product] for product in ranked[:count]],
        "titles": {product: fact["title"] for product, fact in sorted(last.items())},
    }
